"""Issue a partner API key and print it once."""
from django.core.management.base import CommandError

from campaigns.management.base import ExamplesCommand
from campaigns.models import ApiKey, Campaign, Partner


class Command(ExamplesCommand):
    help = (
        "Issue an API key for a partner and print it ONCE (only its SHA-256 is stored: a lost key cannot be "
        "recovered, only revoked and replaced).\n\n"
        "Without --campaign the key can use every campaign the partner may send to, now and later; with one or "
        "more --campaign it is narrowed to those (each must already be one of the partner's campaigns).\n\n"
        "Examples:\n"
        "  manage.py create_api_key --partner acme\n"
        "  manage.py create_api_key --partner acme --campaign solar-us --campaign solar-ca --name 'Acme web form'\n\n"
        "Partners send it as 'X-API-Key: <key>' or 'Authorization: Bearer <key>'. Revoke keys in the admin "
        "(API keys -> Revoke selected keys)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--partner", required=True, metavar="SLUG", help="The partner's slug (see the admin, Partners).")
        parser.add_argument("--campaign", action="append", default=[], metavar="SLUG", dest="campaigns",
                            help="Narrow the key to this campaign; repeat for several. Default: all the partner's campaigns.")
        parser.add_argument("--name", default="", help="A label to tell keys apart, e.g. the integration using it.")

    def handle(self, *args, partner, campaigns, name, **options):
        try:
            partner_obj = Partner.objects.get(slug=partner)
        except Partner.DoesNotExist:
            known = ", ".join(Partner.objects.order_by("slug").values_list("slug", flat=True)[:20]) or "none yet"
            raise CommandError(f"No partner with slug {partner!r}. Known partners: {known}.")
        if not partner_obj.is_active:
            raise CommandError(f"Partner {partner!r} is inactive; activate it in the admin before issuing keys.")
        chosen = []
        for slug in dict.fromkeys(campaigns):
            campaign = Campaign.objects.filter(slug=slug).first()
            if campaign is None:
                raise CommandError(f"No campaign with slug {slug!r}.")
            if not partner_obj.campaigns.filter(pk=campaign.pk).exists():
                allowed = ", ".join(partner_obj.campaigns.order_by("slug").values_list("slug", flat=True)) or "none"
                raise CommandError(
                    f"Partner {partner!r} may not send to campaign {slug!r}. Its campaigns: {allowed}. "
                    "Add the campaign to the partner in the admin first."
                )
            chosen.append(campaign)
        key, raw = ApiKey.issue(partner_obj, name=name, campaigns=chosen)
        scope = ", ".join(c.slug for c in chosen) if chosen else "all of the partner's campaigns"
        self.stderr.write(f"Issued key {key.prefix} for {partner_obj.name} ({scope}). "
                          "Copy it now: it is not stored and will not be shown again.")
        self.stdout.write(raw)
