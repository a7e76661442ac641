from datetime import timedelta

from django.core.management.base import BaseCommand
from django.utils import timezone

from vendors.models import DeliveryAttempt, VendorExchange


class Command(BaseCommand):
    help = ("Delete delivery attempts, and the vendor exchanges they link to, older than --days (default 30). "
            "Deliveries and their outcomes stay.")

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=30)

    def handle(self, days, **options):
        cutoff = timezone.now() - timedelta(days=days)
        total = self.prune(DeliveryAttempt, cutoff)
        exchanges = self.prune(VendorExchange, cutoff)
        self.stdout.write(f"Deleted {total} attempt(s) and {exchanges} vendor exchange(s) older than {days} days.")

    @staticmethod
    def prune(model, cutoff) -> int:
        total = 0
        while True:  # in slices, so a large prune never holds one huge transaction
            ids = list(model.objects.filter(started_at__lt=cutoff).values_list("pk", flat=True)[:10000])
            if not ids:
                return total
            total += model.objects.filter(pk__in=ids).delete()[0]
