"""Each lead's state at each destination of its campaign, for the lead list (a column, one
filter per destination) and the CSV export, read from the delivery rows.

A lead is, at one destination:

* ``withdrawn``: a withdrawal (end contact, DNC push, erase) was planned there, or its push was
  stopped before it was sent (the lead was withdrawn, on the DNC list, erased);
* otherwise its push decides: ``accepted``, ``refused`` (rejected by the vendor), ``pending``
  (due or in flight), ``failed`` (retries gave up), ``skipped`` (not sent: the vendor's
  requirements, or cancelled by staff);
* ``none``: nothing was planned there.

The column and the export read the rows of a page (or an export chunk) in one query; a filter
is an ``EXISTS`` on the delivery table's unique (lead, destination, operation) index.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from itertools import islice

from django.contrib import admin
from django.db.models import Exists, OuterRef, Q
from django.utils.html import format_html_join

from .dashboard import WITHDRAWN_CODES
from .models import Delivery, Destination

Op, St = Delivery.Operation, Delivery.Status
WITHDRAWAL_OPS = (Op.END_CONTACT, Op.DNC, Op.ERASE)
STATES = [("accepted", "accepted"), ("refused", "refused"), ("pending", "pending"), ("failed", "failed"),
          ("withdrawn", "withdrawn"), ("skipped", "skipped (not sent)"), ("none", "none (not planned)")]
PUSH_STATE = {St.ACCEPTED: "accepted", St.REJECTED: "refused", St.PENDING: "pending", St.IN_FLIGHT: "pending",
              St.FAILED: "failed", St.SKIPPED: "skipped", St.UNSUPPORTED: "skipped"}


def state_of(push: Delivery | None, withdrawal: Delivery | None) -> str:
    if withdrawal is not None or (push is not None and push.status == St.SKIPPED and push.code in WITHDRAWN_CODES):
        return "withdrawn"
    return PUSH_STATE[push.status] if push is not None else "none"


def outcome_of(push: Delivery | None, withdrawal: Delivery | None) -> str:
    """What the vendor (or the pipeline) answered last, in a line: the withdrawal's answer once
    there is one, else the push's ("accepted", "rejected missing_region: ...")."""
    row = withdrawal or push
    if row is None:
        return ""
    words = [row.get_operation_display().lower() if row is withdrawal else "", row.status, row.code]
    text = " ".join(w for w in words if w)
    return f"{text}: {row.message}"[:300] if row.message else text


def condition(destination_id: int, state: str) -> Q:
    """Leads in ``state`` at the destination, as a filter on the lead table (see the module doc)."""
    def rows(**where):
        return Exists(Delivery.objects.filter(lead_id=OuterRef("pk"), destination_id=destination_id, **where))

    withdrawal = rows(operation__in=WITHDRAWAL_OPS)
    stopped = rows(operation=Op.PUSH, status=St.SKIPPED, code__in=WITHDRAWN_CODES)
    if state == "withdrawn":
        return Q(withdrawal) | Q(stopped)
    if state == "none":
        return ~Q(rows(operation=Op.PUSH)) & ~Q(withdrawal)
    statuses = [status for status, name in PUSH_STATE.items() if name == state]
    found = Q(rows(operation=Op.PUSH, status__in=statuses)) & ~Q(withdrawal)
    return found & ~Q(stopped) if state == "skipped" else found


# the withdrawal a lead's state and outcome come from when it has several at one destination
WITHDRAWAL_RANK = {Op.ERASE: 0, Op.END_CONTACT: 1, Op.DNC: 2}


def states(lead_ids: Iterable[int]) -> dict[int, dict[int, tuple[str, str]]]:
    """{lead id: {destination id: (state, outcome)}} for the leads' delivery rows, in one query
    (destinations without a row are absent: their state is ``none``)."""
    rows: dict[tuple[int, int], dict[str, Delivery]] = defaultdict(dict)
    for row in Delivery.objects.filter(lead_id__in=list(lead_ids)).only(
            "lead_id", "destination_id", "operation", "status", "code", "message"):
        mine = rows[(row.lead_id, row.destination_id)]
        if row.operation == Op.PUSH:
            mine["push"] = row
        elif "withdrawal" not in mine or WITHDRAWAL_RANK[row.operation] < WITHDRAWAL_RANK[mine["withdrawal"].operation]:
            mine["withdrawal"] = row
    found: dict[int, dict[int, tuple[str, str]]] = defaultdict(dict)
    for (lead_id, dest_id), mine in rows.items():
        push, withdrawal = mine.get("push"), mine.get("withdrawal")
        found[lead_id][dest_id] = (state_of(push, withdrawal), outcome_of(push, withdrawal))
    return found


def destinations_of(campaign_ids: Iterable[int]) -> list[Destination]:
    return list(Destination.objects.filter(campaign_id__in=list(campaign_ids)).select_related("account", "campaign")
                .order_by("campaign_id", "pk"))


# --- the lead list ------------------------------------------------------------------------------

def annotate_page(leads: list) -> None:
    """Give each lead of a changelist page its ``destination_states``: [(destination, state,
    outcome)] for every destination of its campaign. Two queries whatever the page size."""
    by_campaign = defaultdict(list)
    for dest in destinations_of({lead.campaign_id for lead in leads}):
        by_campaign[dest.campaign_id].append(dest)
    found = states(lead.pk for lead in leads) if leads else {}
    for lead in leads:
        mine = found.get(lead.pk, {})
        lead.destination_states = [(dest, *mine.get(dest.pk, ("none", ""))) for dest in by_campaign[lead.campaign_id]]


@admin.display(description="Vendors")
def state_column(lead) -> str:
    entries = getattr(lead, "destination_states", None)
    if not entries:
        return "—"
    return format_html_join(" ", '<span class="lh-state lh-state-{}" title="{}: {}{}">{} {}</span>', (
        (state, dest.account.name, state, f" ({outcome})" if outcome else "", dest.account.name, state)
        for dest, state, outcome in entries))


class DestinationStateFilter(admin.SimpleListFilter):
    """"Delivery to <destination>": accepted / refused / pending / failed / withdrawn / skipped / none."""

    destination: Destination

    def lookups(self, request, model_admin):
        return STATES

    def queryset(self, request, queryset):
        if self.value() in dict(STATES):
            return queryset.filter(condition(self.destination.pk, self.value()))
        return queryset


def filter_for(destination: Destination, with_campaign: bool) -> type[DestinationStateFilter]:
    where = f"{destination.campaign.name} → " if with_campaign else ""
    return type(f"DestinationStateFilter{destination.pk}", (DestinationStateFilter,), {
        "destination": destination, "parameter_name": f"delivery_{destination.pk}",
        "title": f"delivery to {where}{destination.account.name}"})


def list_filters(request) -> list[type[DestinationStateFilter]]:
    """One filter per destination of the campaign the list is filtered to (of every campaign
    otherwise), plus any a link names (the list must not refuse a filter it was given)."""
    campaign = request.GET.get("campaign__id__exact", "")
    named = [key.removeprefix("delivery_") for key in request.GET if key.startswith("delivery_")]
    scope = Q(campaign_id=campaign) if campaign.isdigit() else Q()
    if named:
        scope |= Q(pk__in=[pk for pk in named if pk.isdigit()])
    chosen = Destination.objects.filter(scope).select_related("account", "campaign").order_by("campaign__name", "pk")
    return [filter_for(dest, with_campaign=not campaign.isdigit()) for dest in chosen]


# --- the CSV export -----------------------------------------------------------------------------

EXPORT_CHUNK = 2000


def export_columns(destinations: list[Destination]) -> list[str]:
    """A state and an outcome column per destination, named after its vendor account (with the
    campaign, then the destination id, where that alone would be ambiguous)."""
    names = [dest.account.name for dest in destinations]
    if len(set(names)) < len(names):
        names = [f"{dest.campaign.slug} {dest.account.name}" for dest in destinations]
    if len(set(names)) < len(names):
        names = [f"{name} #{dest.pk}" for name, dest in zip(names, destinations)]
    return [f"{name} {column}" for name in names for column in ("state", "outcome")]


def with_states(rows: Iterator[list], destinations: list[Destination]) -> Iterator[list]:
    """The export's rows (lead id, campaign slug first) followed by each destination's state
    and outcome (blank for another campaign's destinations), one delivery query per chunk."""
    while chunk := list(islice(rows, EXPORT_CHUNK)):
        found = states(row[0] for row in chunk)
        for lead_id, campaign, *rest in chunk:
            mine = found.get(lead_id, {})
            yield [lead_id, campaign, *rest, *(cell for dest in destinations for cell in (
                mine.get(dest.pk, ("none", "")) if dest.campaign.slug == campaign else ("", "")))]
