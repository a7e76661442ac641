"""Shapes in and out of the partner API. Serializers check shape; intake checks meaning."""
from __future__ import annotations

from django.utils.functional import lazy
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from campaigns import intake, requirements, withdrawals
from campaigns.models import WEEKDAYS, BulkAction, Campaign, Lead

from .exceptions import REJECTION_STATUS

MAX_BULK_ITEMS = 1000
MAX_DNC_NUMBERS = 1000


# --- errors (documentation only: the exception handler builds them) ---------------------

class FieldErrorSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Machine-readable reason, e.g. " + ", ".join(intake.REASONS) + ".")
    message = serializers.CharField(help_text="What is wrong, in words a partner can act on.")


class ErrorSerializer(serializers.Serializer):
    code = serializers.CharField(help_text=(
        "Machine-readable error code. Lead rejections use intake's reason codes: "
        + "; ".join(f"`{code}` ({REJECTION_STATUS[code]}): {text}" for code, text in intake.REASONS.items())
        + ". Others: not_authenticated, authentication_failed, key_revoked, partner_inactive, throttled, "
          "parse_error, not_found, method_not_allowed, unsupported_media_type, request_too_large, too_many_items, "
          "idempotency_key_reused, idempotency_in_progress."
    ))
    message = serializers.CharField()
    fields = serializers.DictField(child=FieldErrorSerializer(many=True),
                                   help_text="Per-field errors: field name -> list of {code, message}.")


# --- campaigns -------------------------------------------------------------------------

@extend_schema_field({"type": "string", "pattern": "^[0-2][0-9]:[0-5][0-9]$", "example": "09:00",
                      "description": "Local wall-clock time HH:MM (no offset: the lead's own zone)."})
class WallClockTimeField(serializers.TimeField):
    def __init__(self, **kwargs):
        super().__init__(format="%H:%M", read_only=True, **kwargs)


class RequirementSerializer(serializers.Serializer):
    fields = serializers.ListField(child=serializers.CharField(), help_text="Lead fields (metadata.<key>: one "
                                                                            "metadata value).")
    one_of = serializers.BooleanField(help_text="True: any one of the fields will do; false: the field is required.")
    vendors = serializers.ListField(child=serializers.CharField(), help_text="The vendors that need it.")
    message = serializers.CharField(help_text="What they need, in words.")


class CampaignSerializer(serializers.ModelSerializer):
    accepts_leads = serializers.SerializerMethodField(help_text="False when the campaign is archived.")
    phone_region = serializers.CharField(
        read_only=True, help_text="Region assumed for numbers written without a country code.")
    calling_start = WallClockTimeField(help_text="Earliest call time, in the lead's local time.")
    calling_end = WallClockTimeField(help_text="Latest call time, in the lead's local time.")
    calling_days = serializers.SerializerMethodField(
        help_text="Days leads may be called, in the lead's local time, Monday first.")
    required_fields = serializers.SerializerMethodField(help_text=(
        "Fields every lead must have in this campaign: phone, plus what each of the campaign's vendors needs. "
        "`requirements` has the rules that one of several fields satisfies, and who needs what."))
    requirements = serializers.SerializerMethodField(help_text=lazy(lambda: (
        "The campaign's effective requirements: what LeadHub and each enabled vendor of the campaign need of a "
        "lead. A lead that misses one is rejected with code `vendor_requirements` (or, with "
        "vendor_requirements_policy `skip`, accepted and not sent to that vendor). What each vendor needs: "
        + requirements.catalogue_text()), str)())
    optional_fields = serializers.SerializerMethodField()

    class Meta:
        model = Campaign
        fields = ["slug", "name", "status", "accepts_leads", "phone_region", "timezone", "calling_days",
                  "calling_start", "calling_end", "required_fields", "requirements", "vendor_requirements_policy",
                  "optional_fields"]
        read_only_fields = fields  # always sent, so required in the document

    @extend_schema_field(serializers.ListField(child=serializers.ChoiceField(choices=WEEKDAYS)))
    def get_calling_days(self, obj) -> list[str]:
        days = {d.strip() for d in obj.calling_days.split(",")}
        return [day for day in WEEKDAYS if day in days]

    def get_accepts_leads(self, obj) -> bool:
        return obj.status != Campaign.Status.ARCHIVED

    def _needs(self, obj) -> requirements.CampaignRequirements:
        known = self.context.get("requirements")  # the list view's, for all its campaigns in one query
        return known[obj.pk] if known and obj.pk in known else requirements.for_campaign(obj)

    def get_required_fields(self, obj) -> list[str]:
        return self._needs(obj).required_fields()

    @extend_schema_field(RequirementSerializer(many=True))
    def get_requirements(self, obj) -> list[dict]:
        return self._needs(obj).describe()

    def get_optional_fields(self, obj) -> list[str]:
        return sorted(intake.ACCEPTED_FIELDS - set(self._needs(obj).required_fields()))


# --- leads in --------------------------------------------------------------------------

METADATA_SCHEMA = {
    "type": "object",
    "additionalProperties": {"type": "string", "maxLength": intake.METADATA_MAX_VALUE_LENGTH},
    "maxProperties": intake.METADATA_MAX_KEYS,
    "description": (
        f"Extra values kept with the lead: an object of strings, one level deep (no nested objects or lists), "
        f"at most {intake.METADATA_MAX_KEYS} keys of at most {intake.METADATA_MAX_KEY_LENGTH} characters, "
        f"values of at most {intake.METADATA_MAX_VALUE_LENGTH:,} characters. Beyond that: 400 invalid_field."
    ),
}


@extend_schema_field(METADATA_SCHEMA)
class MetadataField(serializers.Field):
    """A lead's metadata, passed through as it is: intake checks it (and its bounds) for every way
    a lead enters, so a single lead and a bulk item get the same messages."""

    def to_internal_value(self, data):
        return data

    def to_representation(self, value):
        return value


class LeadFieldsSerializer(serializers.Serializer):
    """The fields of one lead, without its campaign (a bulk item). Intake validates their meaning."""

    phone = serializers.CharField(help_text="Any common format; stored as E.164. Numbers without a country "
                                            "code use the campaign's region.", allow_blank=True, trim_whitespace=False)
    phone_alt = serializers.CharField(required=False, allow_blank=True)
    first_name = serializers.CharField(required=False, allow_blank=True, max_length=100)
    last_name = serializers.CharField(required=False, allow_blank=True, max_length=100)
    email = serializers.CharField(required=False, allow_blank=True, help_text="An email address.")
    address = serializers.CharField(required=False, allow_blank=True, max_length=255)
    city = serializers.CharField(required=False, allow_blank=True, max_length=100)
    region = serializers.CharField(required=False, allow_blank=True, max_length=100,
                                   help_text="State / province (US: two-letter code).")
    postal_code = serializers.CharField(required=False, allow_blank=True, max_length=20)
    country = serializers.CharField(required=False, allow_blank=True, help_text="ISO 3166 alpha-2; from the number when blank.")
    timezone = serializers.CharField(required=False, allow_blank=True, help_text="IANA zone; from the number when blank.")
    external_id = serializers.CharField(required=False, allow_blank=True, max_length=100,
                                        help_text="Your id for this person.")
    source = serializers.CharField(required=False, allow_blank=True, max_length=200)
    link = serializers.CharField(required=False, allow_blank=True, help_text="An http(s) URL.")
    metadata = MetadataField(required=False)
    consent_at = serializers.DateTimeField(required=False, allow_null=True)
    consent_url = serializers.CharField(required=False, allow_blank=True, help_text="An http(s) URL.")
    scheduled_at = serializers.DateTimeField(required=False, allow_null=True, help_text="Do not call before this time.")

    def validate(self, attrs):
        unknown = sorted(set(self.initial_data) - set(self.fields) - {"campaign"}) if isinstance(self.initial_data, dict) else []
        if unknown:
            raise serializers.ValidationError(
                {name: [serializers.ErrorDetail(f"Unknown field {name!r}; put extra values in metadata.",
                                                code="invalid_field")] for name in unknown}
            )
        return attrs


class LeadCreateSerializer(LeadFieldsSerializer):
    """One lead and the campaign it goes to. Intake validates the fields' meaning."""

    campaign = serializers.CharField(help_text="Slug of one of your campaigns (GET /api/v1/campaigns/).")


class BulkLeadCreateSerializer(serializers.Serializer):
    """The envelope of a bulk request; each item is checked by intake (one result per item)."""

    campaign = serializers.CharField(help_text="Slug of one of your campaigns; every item goes to it.")
    # No child field: intake checks each item (one result each); a per-item DRF field would check them twice.
    leads = serializers.ListField(allow_empty=False,
                                  help_text=f"Up to {MAX_BULK_ITEMS:,} lead objects.")

    def validate_leads(self, value):
        if len(value) > MAX_BULK_ITEMS:
            raise serializers.ValidationError(
                f"A bulk request takes at most {MAX_BULK_ITEMS:,} leads; this one has {len(value):,}. "
                "Split it into several requests.", code="too_many_items")
        return value


class BulkLeadCreateDocSerializer(serializers.Serializer):
    """What the bulk body looks like (for the schema; items are validated by intake)."""

    campaign = serializers.CharField(help_text="Slug of one of your campaigns; every item goes to it.")
    leads = serializers.ListField(child=LeadFieldsSerializer(), min_length=1, max_length=MAX_BULK_ITEMS,
                                  help_text=f"1 to {MAX_BULK_ITEMS:,} leads; more is a 400 (too_many_items).")

    class Meta:
        ref_name = "BulkLeadCreate"


# --- leads out -------------------------------------------------------------------------

class LeadCreatedSerializer(serializers.Serializer):
    id = serializers.IntegerField(allow_null=True, help_text="Null in a dry run.")
    status = serializers.ChoiceField(choices=Lead.Status.choices)
    phone = serializers.CharField(help_text="E.164")
    campaign = serializers.CharField()
    dry_run = serializers.BooleanField()
    warnings = FieldErrorSerializer(many=True, help_text=(
        "Vendors this lead will not be sent to, and why (code vendor_requirements; campaigns whose "
        "vendor_requirements_policy is skip). Empty when it goes to every vendor of the campaign."))


class BulkItemResultSerializer(serializers.Serializer):
    index = serializers.IntegerField(help_text="Position of the item in the request (from 0).")
    status = serializers.ChoiceField(choices=["accepted", "rejected"])
    id = serializers.IntegerField(allow_null=True, help_text="The new lead's id; null when rejected or in a dry run.")
    phone = serializers.CharField(allow_null=True, help_text="E.164, when the number could be read.")
    error = ErrorSerializer(allow_null=True, help_text="Why the item was rejected; null when accepted.")
    warnings = FieldErrorSerializer(many=True, help_text="Accepted, but not sent to these vendors (see the "
                                                         "single-lead answer's warnings).")


class BulkSummarySerializer(serializers.Serializer):
    accepted = serializers.IntegerField()
    rejected = serializers.IntegerField()


class BulkResultSerializer(serializers.Serializer):
    dry_run = serializers.BooleanField()
    campaign = serializers.CharField()
    summary = BulkSummarySerializer()
    results = BulkItemResultSerializer(many=True)


class DeliveryChoiceField(serializers.CharField):
    """A value of the pipeline's Delivery model (documented as its choices by
    campaigns.api.schema.DeliveryChoicesExtension; campaigns does not import vendors)."""


class DeliverySerializer(serializers.Serializer):
    vendor = serializers.CharField(help_text="The vendor kind (the vendor account's kind).")
    operation = DeliveryChoiceField(help_text="What LeadHub asked the vendor to do.")
    status = DeliveryChoiceField(help_text="Where that request stands.")
    code = serializers.CharField(allow_blank=True, help_text="The vendor's or LeadHub's reason code; \"\" when none.")
    message = serializers.CharField(allow_blank=True, help_text="What the vendor answered, in words; \"\" when none.")
    updated_at = serializers.DateTimeField()


class CallOutcomeSerializer(serializers.Serializer):
    vendor = serializers.CharField(help_text="The vendor kind (the vendor account's kind).")
    completed = serializers.BooleanField(allow_null=True, help_text=(
        "True: the vendor will not call the lead again (the lead's status becomes completed); null: not said."))
    status_code = serializers.CharField(allow_blank=True, help_text="The vendor's last status code; \"\" when none.")
    status_description = serializers.CharField(allow_blank=True, help_text="The vendor's words for it.")
    outcome_type = serializers.CharField(allow_blank=True, help_text="The vendor's kind of outcome.")
    read_at = serializers.DateTimeField(help_text="When LeadHub read it from the vendor.")


class WithdrawalOutcomeSerializer(serializers.Serializer):
    vendor = serializers.CharField(help_text="The vendor kind (the vendor account's kind).")
    destination = serializers.IntegerField(help_text="Which of the campaign's vendor destinations.")
    outcome = serializers.ChoiceField(choices=withdrawals.OUTCOMES, help_text=(
        "withdrawn: the vendor confirmed, or never held the lead; pending: it is being told; "
        "unsupported: it has no call for this (it was NOT told); failed: it refused, or retries gave up."))
    message = serializers.CharField(allow_blank=True, help_text="The vendor's answer or why it was not told.")


WITHDRAWAL_HELP = ("Per vendor destination: was it told? (cancel and DNC: stop contact; erase: erase the person). "
                   "Null while the lead is not withdrawn.")


class LeadSerializer(serializers.ModelSerializer):
    campaign = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    phone = serializers.CharField(read_only=True)
    phone_alt = serializers.CharField(read_only=True, help_text="A second number, E.164; \"\" when none.")
    # blank when not given, so plain strings (a "uri"/"email" format would reject "")
    email = serializers.CharField(read_only=True)
    link = serializers.CharField(read_only=True, help_text="An http(s) URL, or blank.")
    consent_url = serializers.CharField(read_only=True, help_text="An http(s) URL, or blank.")
    metadata = MetadataField(read_only=True)
    withdrawal = WithdrawalOutcomeSerializer(many=True, read_only=True, allow_null=True,
                                             source="api_withdrawal", help_text=WITHDRAWAL_HELP)

    class Meta:
        model = Lead
        fields = ["id", "campaign", "status", "phone", "phone_alt", "first_name", "last_name", "email",
                  "address", "city", "region", "postal_code", "country", "timezone", "external_id", "source",
                  "link", "metadata", "consent_at", "consent_url", "scheduled_at", "created_at", "updated_at",
                  "withdrawal"]
        read_only_fields = fields


class LeadDetailSerializer(LeadSerializer):
    deliveries = DeliverySerializer(many=True, read_only=True, source="api_deliveries",
                                    help_text="Per vendor and operation: what the dialling vendor answered.")
    outcomes = CallOutcomeSerializer(many=True, read_only=True, source="api_outcomes", help_text=(
        "What the vendors' diallers did with the lead, newest first, a row each time it changed. Only "
        "vendors whose contract offers a read-back report outcomes; they are read every few minutes."))

    class Meta(LeadSerializer.Meta):
        fields = LeadSerializer.Meta.fields + ["deliveries", "outcomes"]
        read_only_fields = fields


class CancelResultSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=Lead.Status.choices)
    cancelled = serializers.BooleanField(help_text="False when the lead was already cancelled, on the DNC list "
                                                   "or erased.")
    withdrawal = WithdrawalOutcomeSerializer(many=True, help_text=WITHDRAWAL_HELP)


class EraseResultSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=Lead.Status.choices)
    erased = serializers.BooleanField(help_text="False when the lead was already erased.")
    withdrawal = WithdrawalOutcomeSerializer(many=True, help_text=WITHDRAWAL_HELP)


class BulkCancelSerializer(serializers.Serializer):
    ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=2**63 - 1), min_length=1, max_length=10_000,
        help_text="Ids of your leads to cancel, at most 10,000 per request.")


class BulkActionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=BulkAction.Kind.choices)
    status = serializers.ChoiceField(choices=BulkAction.Status.choices,
                                     help_text="queued or running: follow it at GET /api/v1/bulk-actions/{id}/.")
    total = serializers.IntegerField(help_text="Leads selected (the ids that are yours).")
    processed = serializers.IntegerField(help_text="Selected leads worked through so far.")
    percent = serializers.IntegerField(min_value=0, max_value=100)
    changed = serializers.IntegerField(help_text="Leads cancelled (the others were already cancelled or on DNC).")
    deliveries_planned = serializers.IntegerField(help_text="Withdrawals planned at the vendors holding them.")
    message = serializers.CharField(help_text="Progress, or the outcome once done or failed.")


class BulkCancelResultSerializer(BulkActionSerializer):
    not_found = serializers.IntegerField(help_text="Ids given that are not leads of yours (nothing done to them).")


class LeadFilterSerializer(serializers.Serializer):
    campaign = serializers.CharField(required=False, help_text="Campaign slug.")
    status = serializers.ChoiceField(choices=Lead.Status.choices, required=False)
    created_after = serializers.DateTimeField(required=False, help_text="Created at or after (ISO 8601).")
    created_before = serializers.DateTimeField(required=False, help_text="Created before (ISO 8601).")
    phone = serializers.CharField(required=False, help_text="Any format; matched on its E.164 form.")


# --- DNC -------------------------------------------------------------------------------

@extend_schema_field({"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": MAX_DNC_NUMBERS,
                      "description": f"1 to {MAX_DNC_NUMBERS:,} numbers, any format; more is a 400 (too_many_items)."})
class DncNumbersField(serializers.ListField):
    """The limit is checked by validate_numbers (code too_many_items), so the field only documents it."""


class DncAddSerializer(serializers.Serializer):
    numbers = DncNumbersField(child=serializers.CharField(allow_blank=True, trim_whitespace=False),
                              allow_empty=False)
    campaign = serializers.CharField(required=False, help_text="One of your campaigns; omitted: all of them.")
    reason = serializers.CharField(required=False, allow_blank=True, max_length=255)

    def validate_numbers(self, value):
        if len(value) > MAX_DNC_NUMBERS:
            raise serializers.ValidationError(
                f"A DNC request takes at most {MAX_DNC_NUMBERS:,} numbers; this one has {len(value):,}. "
                "Split it into several requests.", code="too_many_items")
        return value


class DncNumberResultSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    input = serializers.CharField(allow_blank=True)
    phone = serializers.CharField(allow_null=True, help_text="E.164; null when invalid.")
    status = serializers.ChoiceField(choices=["added", "already_listed", "invalid"])
    message = serializers.CharField(allow_blank=True)


class LeadWithdrawalSerializer(serializers.Serializer):
    lead = serializers.IntegerField()
    withdrawal = WithdrawalOutcomeSerializer(many=True)


class DncAddResultSerializer(serializers.Serializer):
    campaigns = serializers.ListField(child=serializers.CharField(), help_text="Campaign slugs the numbers went to.")
    results = DncNumberResultSerializer(many=True)
    leads_withdrawn = serializers.IntegerField(help_text="Open leads with these numbers that were withdrawn.")
    withdrawals = LeadWithdrawalSerializer(many=True, help_text="Your leads this request withdrew, with the "
                                                                "outcome at each vendor.")


class DncCheckQuerySerializer(serializers.Serializer):
    phone = serializers.CharField(help_text="Any format.")
    campaign = serializers.CharField(help_text="Campaign slug.")


class DncCheckResultSerializer(serializers.Serializer):
    phone = serializers.CharField(help_text="E.164")
    campaign = serializers.CharField()
    callable = serializers.BooleanField()
    code = serializers.CharField(allow_null=True, help_text="dnc when not callable.")
    reason = serializers.CharField(allow_null=True, help_text="Why not, in words.")
    listed = serializers.ChoiceField(choices=["campaign", "global"], allow_null=True,
                                     help_text="Which list has the number.")
