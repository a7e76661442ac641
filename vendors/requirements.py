"""The vendors' side of ``campaigns.requirements``: each enabled destination's client says what a lead needs.

Registered in ``VendorsConfig.ready`` so that intake (which never imports vendors)
checks leads against every enabled destination of their campaign, and used by
``planning.plan_push`` to store a skipped delivery where a lead misses what that
destination needs (the campaign's ``skip`` policy).
"""
from __future__ import annotations

from collections import defaultdict
from typing import Iterable

from campaigns.requirements import Requirement, Rule

from .models import Destination
from .registry import client_class, client_classes


def rules_of(destination: Destination) -> list[Rule]:
    cls = client_class(destination.account.kind)
    return [Rule(cls.label, destination.pk, requirement)
            for requirement in cls.lead_requirements(destination.settings or {})]


class VendorRequirements:
    """The provider ``campaigns.requirements`` asks."""

    def rules_for(self, campaign_ids: Iterable[int]) -> dict[int, list[Rule]]:
        rules: dict[int, list[Rule]] = defaultdict(list)
        # only what the rules need: the account's credentials are encrypted (decrypting costs)
        destinations = (Destination.objects.filter(campaign_id__in=list(campaign_ids), is_enabled=True,
                                                   account__is_enabled=True)
                        .select_related("account").only("id", "campaign_id", "settings", "account__kind")
                        .order_by("pk"))
        for destination in destinations:
            rules[destination.campaign_id].extend(rules_of(destination))
        return rules

    def catalogue(self) -> list[tuple[str, list[Requirement]]]:
        return [(cls.label, cls.lead_requirements({})) for cls in client_classes()]


provider = VendorRequirements()
