from django.core.management.base import BaseCommand

from vendors.schedules import install_schedules


class Command(BaseCommand):
    help = ("Install (or update) LeadHub's periodic django-q2 schedules (vendors/schedules.py): the delivery "
            "sweep, attempt pruning, stalled imports, abandoned uploads, expired idempotency keys. "
            "`migrate` does it too.")

    def handle(self, **options):
        for name, created in install_schedules():
            self.stdout.write(f"{'created' if created else 'updated'}: {name}")
