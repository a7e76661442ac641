"""Delete confirmation pages that stay small however much hangs off an object (issue 17).

Django's admin collects every related object into memory to list it on the "Are you
sure?" page, one line each: for a campaign with hundreds of thousands of leads that is
minutes of work and a page no browser can show. :class:`CountedDeleteMixin` replaces that summary with counts
per model, each a ``COUNT(*)`` over a subquery (nothing is loaded), and names at most
:data:`SHOWN` objects in all, with "… and N more". It follows the same on_delete rules
as Django's collector: CASCADE counts (and recurses), PROTECT / RESTRICT block the
delete, SET_NULL / SET_DEFAULT / SET leave the rows in place, unlinked.

The delete itself is Django's (its collector chunks under the parameter limit, see
leadhub.postgres).
"""
from __future__ import annotations

from django.contrib.admin.utils import quote
from django.db import models
from django.db.models.deletion import get_candidate_relations_to_delete
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html
from django.utils.text import capfirst

SHOWN = 20  # objects named on the page, in all
BLOCKING = (models.PROTECT, models.RESTRICT)


class _Summary:
    def __init__(self, request, admin_site):
        self.request, self.site = request, admin_site
        # the page shows either what would be deleted or, when something blocks it, the
        # blocking objects: each list gets the whole allowance
        self.budget = {"deleted": SHOWN, "protected": SHOWN}
        self.model_count: dict[str, int] = {}
        self.perms_needed: set[str] = set()
        self.protected: list = []

    def label(self, obj):
        opts = obj._meta
        if self.site.is_registered(obj.__class__):
            try:
                url = reverse(f"{self.site.name}:{opts.app_label}_{opts.model_name}_change", args=[quote(obj.pk)])
            except NoReverseMatch:
                pass
            else:
                return format_html('{}: <a href="{}">{}</a>', capfirst(opts.verbose_name), url, obj)
        return f"{capfirst(opts.verbose_name)}: {obj}"

    def some(self, queryset, count: int, listing: str = "deleted") -> list:
        """The first objects of ``queryset`` while the listing's allowance lasts, then "… and N more"."""
        shown = [self.label(obj) for obj in queryset.order_by("pk")[:max(0, min(self.budget[listing], count))]]
        self.budget[listing] -= len(shown)
        if count > len(shown):
            name = queryset.model._meta.verbose_name_plural if count - len(shown) != 1 else queryset.model._meta.verbose_name
            shown.append(f"… and {count - len(shown):,} more {name}")
        return shown

    def check_permission(self, model) -> None:
        if self.site.is_registered(model) and not self.site.get_model_admin(model).has_delete_permission(self.request):
            self.perms_needed.add(model._meta.verbose_name)

    def add(self, model, count: int) -> None:
        name = model._meta.verbose_name_plural
        self.model_count[name] = self.model_count.get(name, 0) + count

    def related(self, model, pks, depth: int = 0) -> list:
        """What deleting the rows ``pks`` (a subquery) of ``model`` does to the rows pointing at them.

        Blocking relations go first: once something blocks, the page shows only what blocks,
        so the rest is not counted (at 333k leads each count costs), only searched for more
        blocking rows."""
        nested: list = []
        relations = sorted(get_candidate_relations_to_delete(model._meta),
                           key=lambda r: r.field.remote_field.on_delete not in BLOCKING)
        for relation in relations:
            field = relation.field
            on_delete = field.remote_field.on_delete
            if on_delete is models.DO_NOTHING or depth > 8:
                continue
            related_model = relation.related_model
            rows = related_model._base_manager.filter(**{f"{field.name}__in": pks})
            if on_delete in BLOCKING:
                count = rows.count()
                if count:
                    self.protected += self.some(rows, count, "protected")
            elif on_delete is models.CASCADE:
                if self.protected:  # not shown: look deeper for blocking rows only
                    self.related(related_model, rows.values("pk"), depth + 1)
                    continue
                count = rows.count()
                if not count:
                    continue
                self.add(related_model, count)
                self.check_permission(related_model)
                nested += self.some(rows, count)
                deeper = self.related(related_model, rows.values("pk"), depth + 1)
                if deeper:
                    nested.append(deeper)
            elif not self.protected:  # SET_NULL, SET_DEFAULT, SET(): the rows stay
                count = rows.count()
                if count:
                    name = related_model._meta.verbose_name_plural if count != 1 else related_model._meta.verbose_name
                    nested.append(f"{count:,} {name} stay, without their {field.verbose_name}")
        return nested


class CountedDeleteMixin:
    """ModelAdmin mixin: the delete confirmation shows counts per model and at most
    :data:`SHOWN` objects (Django's lists every related object)."""

    def get_deleted_objects(self, objs, request):
        model = self.model
        pks = objs.values("pk") if hasattr(objs, "values") else [obj.pk for obj in objs]
        roots = model._base_manager.filter(pk__in=pks)
        summary = _Summary(request, self.admin_site)
        count = roots.count()
        if not count:
            return [], {}, set(), []
        summary.add(model, count)
        summary.check_permission(model)
        deleted = summary.some(roots, count)
        nested = summary.related(model, roots.values("pk"))
        if nested:
            deleted.append(nested)
        return deleted, summary.model_count, summary.perms_needed, summary.protected
