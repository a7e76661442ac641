"""Erase a person's personal data (GDPR) from LeadHub and from the vendors holding it."""
import getpass

from django.conf import settings
from django.core.management.base import CommandError
from django.db.models import Q

from campaigns import intake, withdrawals
from campaigns.management.base import ExamplesCommand
from campaigns.models import Campaign, Lead
from campaigns.phones import PhoneError, parse_phone


class Command(ExamplesCommand):
    help = (
        "Erase the personal data of every lead of one person, found by phone number or by email address, "
        "in every campaign (or one, with --campaign).\n\n"
        "Each lead keeps its id, campaign, status ('erased') and delivery history; its phone numbers, names, "
        "email, address, external id, link and metadata are removed for good. Every vendor holding a lead is "
        "told to stop contact, and to erase the person where its API can (a vendor with an erase call); "
        "vendors that cannot are recorded 'unsupported' and listed below. The number is not kept, so the person "
        "can be imported again; add it to the DNC list first if they also asked not to be called. The erasure "
        "is recorded (who, when, which leads; not the phone or email used to find them).\n\n"
        "Examples:\n"
        "  manage.py erase_leads --phone '(415) 555-2671'            # asks before erasing\n"
        "  manage.py erase_leads --email ada@example.com --dry-run   # only shows what would be erased\n"
        "  manage.py erase_leads --phone +447911123456 --campaign solar-uk --reason 'DSAR 1234' --no-input"
    )

    def add_arguments(self, parser):
        who = parser.add_mutually_exclusive_group(required=True)
        who.add_argument("--phone", metavar="NUMBER",
                         help="The person's phone number in any common format; matches a lead's phone or second "
                              "phone. Without a country code, --region applies.")
        who.add_argument("--email", metavar="ADDRESS", help="The person's email address (case does not matter).")
        parser.add_argument("--campaign", metavar="SLUG", help="Only this campaign's leads. Default: every campaign.")
        parser.add_argument("--region", metavar="CC",
                            help="Region for a number without a country code (default: the campaign's, else "
                                 "DEFAULT_PHONE_REGION).")
        parser.add_argument("--reason", default="", help="Recorded with the erasure, e.g. the request's ticket "
                                                         "reference. Put no personal data here.")
        parser.add_argument("--dry-run", action="store_true", help="Show what would be erased; change nothing.")
        parser.add_argument("--no-input", "--noinput", action="store_false", dest="interactive",
                            help="Do not ask for confirmation.")

    def handle(self, *args, phone, email, campaign, region, reason, dry_run, interactive, **options):
        leads = Lead.objects.all()
        campaign_obj = None
        if campaign:
            campaign_obj = Campaign.objects.filter(slug=campaign).first()
            if campaign_obj is None:
                raise CommandError(f"No campaign with slug {campaign!r}.")
            leads = leads.filter(campaign=campaign_obj)
        if phone is not None:
            region = (region or (campaign_obj.phone_region if campaign_obj else settings.DEFAULT_PHONE_REGION)).upper()
            try:
                number = parse_phone(phone, region).e164
            except PhoneError as exc:
                raise CommandError(f"--phone {phone!r}: {exc.message}") from None
            leads = leads.filter(Q(phone=number) | Q(phone_alt=number))
            described = number
        else:
            address = email.strip()
            if "@" not in address:
                raise CommandError(f"--email {email!r} is not an email address.")
            leads = leads.filter(email__iexact=address)
            described = address
        preview = withdrawals.erase_preview(leads)
        if not preview["count"]:  # an erased lead keeps no phone or email: it is never found again
            self.stdout.write(f"No lead to erase matches {described}.")
            return
        self._show(preview, described)
        if dry_run:
            self.stdout.write("Dry run: nothing erased.")
            return
        if interactive and input(f"Type 'yes' to erase {preview['count']} lead(s): ").strip().lower() != "yes":
            raise CommandError("Nothing erased.")
        outcome = intake.erase_leads(leads, via="command", requested_by=f"command:{getpass.getuser()}",
                                     reason=reason)
        self.stdout.write(self.style.SUCCESS(
            f"Erased the personal data of {len(outcome.erased)} lead(s) (erasure {outcome.erasure.pk}): "
            + ", ".join(map(str, outcome.erased)) + "."))
        for level, text in withdrawals.admin_messages(outcome.erased, "erase"):
            self.stdout.write(text if level == "info" else self.style.WARNING(text))

    def _show(self, preview, described):
        self.stdout.write(f"{preview['count']} lead(s) match {described}.")
        for d in preview["destinations"]:
            what = "asked to erase the person" if d["erases"] else f"CANNOT erase ({d['message']})"
            stop = "told to stop contact" if d["stops"] else "cannot be told to stop contact"
            self.stdout.write(f"  {d['name']} / {d['campaign']}: {d['leads']} lead(s): {what}; {stop}.")
        if not preview["destinations"]:
            self.stdout.write("  No vendor holds these leads.")
        if preview["unsent"]:
            self.stdout.write(f"  {preview['unsent']} push(es) not sent yet will not be sent.")
