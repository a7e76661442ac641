from datetime import timedelta

from django.core.management.base import BaseCommand
from django.utils import timezone

from vendors.models import DeliveryAttempt


class Command(BaseCommand):
    help = "Delete delivery attempts older than --days (default 30). Deliveries and their outcomes stay."

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=30)

    def handle(self, days, **options):
        cutoff = timezone.now() - timedelta(days=days)
        total = 0
        while True:  # in slices, so a large prune never holds one huge transaction
            ids = list(DeliveryAttempt.objects.filter(started_at__lt=cutoff).values_list("pk", flat=True)[:10000])
            if not ids:
                break
            total += DeliveryAttempt.objects.filter(pk__in=ids).delete()[0]
        self.stdout.write(f"Deleted {total} attempt(s) older than {days} days.")
