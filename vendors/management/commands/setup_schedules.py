from django.core.management.base import BaseCommand

from vendors.schedules import install_schedules


class Command(BaseCommand):
    help = "Install (or update) LeadHub's periodic django-q2 schedules: the delivery sweep and attempt pruning."

    def handle(self, **options):
        for name, created in install_schedules():
            self.stdout.write(f"{'created' if created else 'updated'}: {name}")
