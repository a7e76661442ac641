"""What the vendors app tells ``campaigns`` about deliveries: its side of the hook
``campaigns.pipeline`` (registered in ``VendorsConfig.ready``)."""
from __future__ import annotations

from django.db.models import Q

from .demo import create_demo_vendors
from .models import Delivery, DeliveryOutcome, Destination


class CampaignsPipeline:
    def deliveries(self):
        return Delivery.objects.all()

    def destinations(self):
        return Destination.objects.all()

    def choices(self, field: str) -> list[tuple[str, str]]:
        return list(Delivery._meta.get_field(field).choices)

    def outcomes(self, lead) -> list[dict]:
        return [{"vendor": row.pop("delivery__destination__account__kind"), **row}
                for row in DeliveryOutcome.objects.filter(lead=lead).values(
                    "delivery__destination__account__kind", "completed", "status_code", "status_description",
                    "outcome_type", "read_at")]

    def vendors_holding(self, lead) -> list[str]:
        """The vendor accounts that have, or may have, ``lead``: its push was accepted, is in
        flight, or was sent and not refused (a lost reply may have left it at the vendor)."""
        sent = Q(status__in=[Delivery.Status.ACCEPTED, Delivery.Status.IN_FLIGHT]) | Q(attempts__gt=0)
        pushes = Delivery.objects.filter(sent, lead=lead, operation=Delivery.Operation.PUSH).exclude(
            status=Delivery.Status.REJECTED)
        return sorted(set(pushes.values_list("destination__account__name", flat=True)))

    def create_demo_vendors(self, solar, cover, sandbox_url: str) -> None:
        create_demo_vendors(solar, cover, sandbox_url)


pipeline = CampaignsPipeline()
