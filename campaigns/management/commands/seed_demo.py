"""Load demo data (idempotent): campaigns, lists, a partner, leads, DNC rows, sandbox vendors."""
import os
import random

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from campaigns import intake, pipeline
from campaigns.models import Campaign, LeadList, Partner

FIRST = ["Olivia", "Liam", "Emma", "Noah", "Ava", "Elijah", "Sophia", "James", "Mia", "Lucas", "Amelia",
         "Mason", "Harper", "Ethan", "Chloe", "Jack", "Grace", "Aria", "Leo", "Zoe"]
LAST = ["Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Martinez", "Lee",
        "Walker", "Hall", "Young", "King", "Wright", "Nguyen", "Taylor", "Wilson", "Clarke", "Kelly"]
US_PLACES = [("415", "San Francisco", "CA", "94103"), ("212", "New York", "NY", "10001"),
             ("312", "Chicago", "IL", "60601"), ("305", "Miami", "FL", "33101"),
             ("206", "Seattle", "WA", "98101"), ("512", "Austin", "TX", "73301"),
             ("602", "Phoenix", "AZ", "85001"), ("617", "Boston", "MA", "02108")]
AU_PLACES = [("Sydney", "NSW", "2000"), ("Melbourne", "VIC", "3000"), ("Brisbane", "QLD", "4000"),
             ("Perth", "WA", "6000")]
DEMO_USER, DEMO_PASSWORD = "admin", "admin"


class Command(BaseCommand):
    help = ("Load demo data: a superuser (only with DEBUG on), two campaigns with lists, a partner, a few "
            "hundred leads, DNC rows and vendor accounts pointing at the local sandbox. Safe to run again.")

    def add_arguments(self, parser):
        parser.add_argument("--leads", type=int, default=300, help="Leads per campaign (default 300).")
        parser.add_argument("--sandbox-url", default=os.environ.get("SANDBOX_URL", "http://127.0.0.1:8765"),
                            help="Where `vendor_sandbox` listens; demo vendor accounts point there.")

    def handle(self, leads, sandbox_url, **options):
        rng = random.Random(42)
        with transaction.atomic():
            solar, _ = Campaign.objects.get_or_create(slug="solar-us", defaults=dict(
                name="Solar Savings US", status=Campaign.Status.ACTIVE, timezone="America/New_York",
                default_region="US", calling_days="mon,tue,wed,thu,fri,sat"))
            cover, _ = Campaign.objects.get_or_create(slug="home-cover-au", defaults=dict(
                name="Home Cover AU", status=Campaign.Status.ACTIVE, timezone="Australia/Sydney",
                default_region="AU", calling_start="10:00", calling_end="19:00"))
            lists = {
                solar: [LeadList.objects.get_or_create(campaign=solar, name=n, defaults={"source": s})[0]
                        for n, s in (("Web form", "website"), ("Trade show", "event"))],
                cover: [LeadList.objects.get_or_create(campaign=cover, name=n, defaults={"source": s})[0]
                        for n, s in (("Comparison site", "partner"),)],
            }
            partner, _ = Partner.objects.get_or_create(slug="acme-leads", defaults={"name": "Acme Leads"})
            partner.campaigns.add(solar, cover)
        self._vendors(solar, cover, sandbox_url)  # first, so the demo leads are planned for delivery

        accepted = 0
        for campaign, make_row in ((solar, self._us_row), (cover, self._au_row)):
            rows = [make_row(rng, i) for i in range(leads)]
            for lead_list in lists[campaign]:
                chunk = rows[: len(rows) // len(lists[campaign])]
                rows = rows[len(chunk):]
                results = intake.submit(chunk, campaign=campaign, lead_list=lead_list, partner=partner,
                                        source=lead_list.source)
                accepted += sum(r.accepted for r in results)

        dnc = intake.add_to_dnc(["+12125550100", "+13125550111", "+61491570156"], reason="Asked not to be called",
                                source="demo")
        dnc2 = intake.add_to_dnc(["(415) 555-0142"], campaign=solar, reason="Customer already has solar",
                                 source="demo")
        cancelled = intake.cancel_leads(list(solar.leads.order_by("id").values_list("id", flat=True)[:5]))

        self.stdout.write(self.style.SUCCESS(
            f"Demo data ready: {accepted} new leads, {len(dnc.added) + len(dnc2.added)} new DNC rows, "
            f"{cancelled} cancelled."))
        if settings.DEBUG:
            User = get_user_model()
            user, created = User.objects.get_or_create(username=DEMO_USER, defaults={
                "email": "admin@example.com", "is_staff": True, "is_superuser": True})
            if created:
                user.set_password(DEMO_PASSWORD)
                user.save()
            self.stdout.write(self.style.SUCCESS(f"Admin login: {DEMO_USER} / {DEMO_PASSWORD}"))
        else:
            self.stdout.write("DEBUG is off: no demo superuser (create one with `manage.py createsuperuser`).")

    @staticmethod
    def _us_row(rng, i):
        area, city, state, zip_code = US_PLACES[i % len(US_PLACES)]
        number = f"{rng.randint(200, 999)}{rng.randint(0, 9999):04d}"
        formats = [f"({area}) {number[:3]}-{number[3:]}", f"{area}.{number[:3]}.{number[3:]}",
                   f"+1 {area} {number[:3]} {number[3:]}", f"1-{area}-{number[:3]}-{number[3:]}"]
        first, last = rng.choice(FIRST), rng.choice(LAST)
        return {"phone": formats[i % 4], "first_name": first, "last_name": last,
                "email": f"{first}.{last}{i}@example.com".lower(), "city": city, "region": state,
                "postal_code": zip_code, "external_id": f"CRM-{10000 + i}",
                "metadata": {"roof_type": rng.choice(["tile", "shingle", "metal"])}}

    @staticmethod
    def _au_row(rng, i):
        city, state, postcode = AU_PLACES[i % len(AU_PLACES)]
        first, last = rng.choice(FIRST), rng.choice(LAST)
        return {"phone": f"04{rng.randint(10, 99)} {rng.randint(100, 999)} {rng.randint(100, 999)}",
                "first_name": first, "last_name": last, "email": f"{first}.{last}{i}@example.com.au".lower(),
                "city": city, "region": state, "postal_code": postcode, "country": "AU",
                "external_id": f"AU-{20000 + i}"}

    def _vendors(self, solar, cover, sandbox_url):
        source = pipeline.get()  # the delivery app, when installed (campaigns never imports it)
        if source is not None:
            source.create_demo_vendors(solar, cover, sandbox_url)
