"""Partner API views. Thin: serializers check shape, ``campaigns.intake`` does the work."""
from __future__ import annotations

import re

from django.conf import settings
from django.db.models import Q
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.response import Response
from rest_framework.views import APIView

from campaigns import bulk, intake, requirements, withdrawals
from campaigns.models import DNC, BulkAction, Lead
from campaigns.phones import PhoneError, parse_phone

from . import scoping
from .deliveries import call_outcomes, delivery_status
from .exceptions import REJECTION_STATUS, ApiError, error_body, field_error
from .idempotency import IdempotentPostMixin
from .pagination import PAGING_EXAMPLE, LeadCursorPagination
from .schema import DRY_RUN_PARAM, IDEMPOTENCY_PARAM, error_responses
from .serializers import (
    BulkActionSerializer,
    BulkCancelResultSerializer,
    BulkCancelSerializer,
    BulkLeadCreateDocSerializer,
    BulkLeadCreateSerializer,
    BulkResultSerializer,
    CampaignSerializer,
    CancelResultSerializer,
    DncAddResultSerializer,
    DncAddSerializer,
    DncCheckQuerySerializer,
    DncCheckResultSerializer,
    EraseResultSerializer,
    LeadCreatedSerializer,
    LeadCreateSerializer,
    LeadDetailSerializer,
    LeadFilterSerializer,
    LeadSerializer,
)

_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no", ""}


def dry_run_requested(request) -> bool:
    value = request.query_params.get("dry_run", "false").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise field_error("dry_run", "invalid_field", f"{value!r} is not a boolean; use true or false.")


def scoped_campaign(request, slug: str, field: str = "campaign"):
    campaign = scoping.campaign_by_slug(request.auth, slug)
    if campaign is None:
        raise field_error(field, "invalid_field", scoping.unknown_campaign_message(slug))
    return campaign


_LEAD_REF = re.compile(r"\s*\(lead \d+\)")


def public_rejection(result) -> tuple[str, str, dict]:
    """Intake's rejection without internal references.

    A duplicate may be another partner's lead in a shared campaign: the partner
    learns the number is taken (true and needed), never that lead's id.
    """
    clean = lambda text: _LEAD_REF.sub("", text)  # noqa: E731
    fields = {name: [{"code": i["code"], "message": clean(i["message"])} for i in items]
              for name, items in result.fields.items()}
    return result.code, clean(result.message), fields


def e164(lead) -> str:
    return str(lead.phone)  # stored as E.164 text


def partner_source(request) -> str:
    return f"api:{request.auth.partner.slug}"


class PartnerView(IdempotentPostMixin, APIView):
    """Base of every partner endpoint: key auth, per-key throttles, one error shape."""


# --- campaigns ---------------------------------------------------------------------------

@extend_schema(tags=["campaigns"], responses={200: CampaignSerializer(many=True), **error_responses(401, 429)},
               summary="Campaigns this key can send leads to",
               description="Each campaign lists what a lead needs to be accepted there (`required_fields`, "
                           "`requirements`): the phone number, and what each of the campaign's vendors needs.")
class CampaignListView(PartnerView, generics.ListAPIView):
    serializer_class = CampaignSerializer
    pagination_class = None

    def get_queryset(self):
        return scoping.campaigns_for(self.request.auth).order_by("name", "pk")

    def list(self, request, *args, **kwargs):
        campaigns = list(self.get_queryset())
        context = {**self.get_serializer_context(),
                   "requirements": requirements.for_campaigns(c.pk for c in campaigns)}
        return Response(CampaignSerializer(campaigns, many=True, context=context).data)


# --- leads -------------------------------------------------------------------------------

@extend_schema(tags=["leads"])
class LeadListCreateView(PartnerView, generics.ListAPIView):
    serializer_class = LeadSerializer
    pagination_class = LeadCursorPagination

    def get_queryset(self):
        # the filters as sent, or as the cursor of an earlier page carries them
        filters = LeadFilterSerializer(data=self.paginator.listing(self.request))
        filters.is_valid(raise_exception=True)
        data = filters.validated_data
        qs = scoping.leads_for(self.request.auth).select_related("campaign")
        region = None
        if "campaign" in data:
            campaign = scoped_campaign(self.request, data["campaign"])
            qs = qs.filter(campaign=campaign)
            region = campaign.phone_region
        if "status" in data:
            qs = qs.filter(status=data["status"])
        if "created_after" in data:
            qs = qs.filter(created_at__gte=data["created_after"])
        if "created_before" in data:
            qs = qs.filter(created_at__lt=data["created_before"])
        if "phone" in data:
            try:
                phone = parse_phone(data["phone"], region).e164
            except PhoneError as exc:
                raise field_error("phone", exc.code, exc.message)
            qs = qs.filter(phone=phone)
        return qs

    def paginate_queryset(self, queryset):
        page = super().paginate_queryset(queryset)
        outcomes = withdrawals.per_lead([lead.pk for lead in page])  # one page, two queries
        for lead in page:
            lead.api_withdrawal = outcomes.get(lead.pk)
        return page

    @extend_schema(
        summary="List your leads (newest first, cursor-paged)",
        description="Newest first. " + PAGING_EXAMPLE,
        parameters=[LeadFilterSerializer],
        responses={200: LeadSerializer(many=True), **error_responses(400, 401, 429)},
    )
    def get(self, request, *args, **kwargs):
        return self.list(request, *args, **kwargs)

    @extend_schema(
        summary="Send one lead",
        description=(
            "Runs the lead through intake (normalise, validate, dedupe, DNC). 201 with the new lead; with "
            "`?dry_run=true` 200 and nothing saved. A rejection answers with intake's reason code: "
            + ", ".join(f"`{c}` → {s}" for c, s in REJECTION_STATUS.items()) + "."
        ),
        request=LeadCreateSerializer,
        parameters=[DRY_RUN_PARAM, IDEMPOTENCY_PARAM],
        responses={
            201: LeadCreatedSerializer,
            200: OpenApiResponse(LeadCreatedSerializer, description="Dry run: the lead would be accepted."),
            **error_responses(400, 401, 409, 422, 429),
        },
    )
    def post(self, request, *args, **kwargs):
        dry_run = dry_run_requested(request)
        serializer = LeadCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        row = dict(serializer.validated_data)
        campaign = scoped_campaign(request, row.pop("campaign"))
        [result] = intake.submit([row], campaign=campaign, partner=request.auth.partner,
                                 source=partner_source(request), channel=Lead.Channel.API,
                                 dry_run=dry_run)
        if not result.accepted:
            code, message, fields = public_rejection(result)
            raise ApiError(code, message, fields, status_code=REJECTION_STATUS.get(code, 400))
        lead = result.lead
        body = {"id": None if dry_run else lead.pk, "status": lead.status, "phone": e164(lead),
                "campaign": campaign.slug, "dry_run": dry_run, "warnings": result.warnings}
        return Response(body, status=status.HTTP_200_OK if dry_run else status.HTTP_201_CREATED)


@extend_schema(
    tags=["leads"], summary="Send up to 1,000 leads",
    description=(
        "One result per item, in order (207 Multi-Status): accepted items carry the new lead's id, rejected "
        "ones an error with intake's reason code. Partial success is normal. More than 1,000 items is a 400 "
        "(`too_many_items`). With `?dry_run=true` nothing is saved and ids are null."
    ),
    request=BulkLeadCreateDocSerializer, parameters=[DRY_RUN_PARAM, IDEMPOTENCY_PARAM],
    responses={207: BulkResultSerializer, **error_responses(400, 401, 409, 422, 429)},
)
class LeadBulkCreateView(PartnerView):
    def post(self, request, *args, **kwargs):
        dry_run = dry_run_requested(request)
        serializer = BulkLeadCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        campaign = scoped_campaign(request, serializer.validated_data["campaign"])
        items = serializer.validated_data["leads"]
        rows, positions, results = [], [], [None] * len(items)
        for index, item in enumerate(items):
            if isinstance(item, dict):
                positions.append(index)
                rows.append(item)
            else:
                message = f"Item {index} is not an object of lead fields."
                results[index] = _bulk_rejection(index, None, "invalid_field", message,
                                                 {"non_field_errors": [{"code": "invalid_field", "message": message}]})
        for result in intake.submit(rows, campaign=campaign, partner=request.auth.partner,
                                    source=partner_source(request), channel=Lead.Channel.API,
                                    dry_run=dry_run):
            index = positions[result.index]
            if result.accepted:
                results[index] = {"index": index, "status": "accepted", "id": None if dry_run else result.lead.pk,
                                  "phone": e164(result.lead), "error": None, "warnings": result.warnings}
            else:
                results[index] = _bulk_rejection(index, result.phone, *public_rejection(result))
        accepted = sum(1 for r in results if r["status"] == "accepted")
        body = {"dry_run": dry_run, "campaign": campaign.slug,
                "summary": {"accepted": accepted, "rejected": len(results) - accepted}, "results": results}
        return Response(body, status=status.HTTP_207_MULTI_STATUS)


def _bulk_rejection(index, phone, code, message, fields) -> dict:
    """A rejected item; ``phone`` is the E.164 number when it could be read (None otherwise)."""
    return {"index": index, "status": "rejected", "id": None, "phone": phone,
            "error": error_body(code, message, fields), "warnings": []}


@extend_schema(tags=["leads"], summary="One lead with its delivery status per vendor",
               description="The lead as stored, and per vendor and operation what LeadHub asked and what the "
                           "vendor answered. A lead this key may not see is a 404, as if it did not exist.",
               responses={200: LeadDetailSerializer, **error_responses(401, 404, 429)})
class LeadDetailView(PartnerView, generics.RetrieveAPIView):
    serializer_class = LeadDetailSerializer

    def get_queryset(self):
        return scoping.leads_for(self.request.auth).select_related("campaign")

    def get_object(self):
        lead = super().get_object()
        lead.api_deliveries = delivery_status(lead)
        lead.api_outcomes = call_outcomes(lead)
        lead.api_withdrawal = withdrawals.per_lead([lead.pk]).get(lead.pk)
        return lead


@extend_schema(
    tags=["leads"], summary="Cancel a lead and withdraw it at its vendors",
    description=(
        "Idempotent: cancelling a lead already cancelled, on the DNC list or erased answers cancelled=false. "
        "`withdrawal` says per vendor whether it was told to stop: a vendor with no such call "
        "answers `unsupported` and may still call the lead."),
    request=None, parameters=[IDEMPOTENCY_PARAM],
    responses={200: CancelResultSerializer, **error_responses(400, 401, 404, 409, 422, 429)},
)
class LeadCancelView(PartnerView):
    def post(self, request, pk, *args, **kwargs):
        lead = get_object_or_404(scoping.leads_for(request.auth), pk=pk)
        cancelled = intake.cancel_leads([lead]) > 0
        lead.refresh_from_db(fields=["status"])
        return Response({"id": lead.pk, "status": lead.status, "cancelled": cancelled,
                         "withdrawal": withdrawals.per_lead([lead.pk]).get(lead.pk, [])})


@extend_schema(
    tags=["leads"], summary="Erase a person's data here and at the vendors (GDPR)",
    description=(
        "The lead keeps its id, campaign, status (`erased`) and delivery history; its personal data "
        "(phone numbers, names, email, address, external id, link, metadata) is removed. Every vendor "
        "holding it is told to stop contact, and to erase the person where it has an erase call; "
        "`withdrawal` gives the outcome per vendor, `unsupported` where the vendor has no erase call. "
        "The number is not kept, so it can be sent again as a new lead. Idempotent: erasing an erased "
        "lead answers erased=false. Who erased it and when is recorded."),
    request=None, parameters=[IDEMPOTENCY_PARAM],
    responses={200: EraseResultSerializer, **error_responses(400, 401, 404, 409, 422, 429)},
)
class LeadEraseView(PartnerView):
    def post(self, request, pk, *args, **kwargs):
        lead = get_object_or_404(scoping.leads_for(request.auth), pk=pk)
        key = request.auth
        outcome = intake.erase_leads([lead], via="api", api_key=key,
                                     requested_by=f"api:{key.partner.slug} (key {key.prefix}…)")
        lead.refresh_from_db(fields=["status"])
        return Response({"id": lead.pk, "status": lead.status, "erased": bool(outcome.erased),
                         "withdrawal": withdrawals.per_lead([lead.pk]).get(lead.pk, [])})


def bulk_action_body(action: BulkAction) -> dict:
    return {"id": action.pk, "kind": action.kind, "status": action.status, "total": action.total,
            "processed": action.processed, "percent": bulk.percent(action), "changed": action.changed,
            "deliveries_planned": action.deliveries_planned, "message": bulk.headline(action)}


@extend_schema(
    tags=["leads"], summary="Cancel many leads and withdraw them at their vendors",
    description=(
        "Up to 10,000 lead ids. The same bulk action staff use: the leads are cancelled 5,000 per transaction "
        "and every vendor holding one is told to stop. Answers 200 with the outcome when it ran at once, or "
        "202 while it runs in the background (follow it at `GET /api/v1/bulk-actions/{id}/`). Ids that are "
        "not your leads are counted in `not_found` and left alone; leads already cancelled or on DNC are "
        "selected but not changed."
    ),
    request=BulkCancelSerializer, parameters=[IDEMPOTENCY_PARAM],
    responses={200: BulkCancelResultSerializer, 202: BulkCancelResultSerializer,
               **error_responses(400, 401, 409, 422, 429)},
)
class LeadBulkCancelView(PartnerView):
    @extend_schema(operation_id="v1_leads_bulk_cancel")  # /leads/{id}/cancel/ has v1_leads_cancel_create
    def post(self, request, *args, **kwargs):
        serializer = BulkCancelSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        ids = set(serializer.validated_data["ids"])
        action = bulk.start(BulkAction.Kind.CANCEL, scoping.leads_for(request.auth).filter(pk__in=ids),
                            api_key=request.auth, params={"source": partner_source(request)})
        finished = action.status in (BulkAction.Status.DONE, BulkAction.Status.FAILED)
        return Response({**bulk_action_body(action), "not_found": len(ids) - action.total},
                        status=status.HTTP_200_OK if finished else status.HTTP_202_ACCEPTED)


@extend_schema(
    tags=["leads"], summary="Follow a bulk operation",
    description="Progress and outcome of a bulk operation this partner started.",
    responses={200: BulkActionSerializer, **error_responses(401, 404, 429)},
)
class BulkActionDetailView(PartnerView):
    def get(self, request, pk, *args, **kwargs):
        action = get_object_or_404(BulkAction, pk=pk, api_key__partner_id=request.auth.partner_id)
        return Response(bulk_action_body(action))


# --- DNC -------------------------------------------------------------------------------

@extend_schema(
    tags=["dnc"], summary="Add numbers to your campaigns' do-not-call lists",
    description=(
        "Up to 1,000 numbers, to one campaign (`campaign`) or to every campaign of this key. Open leads with "
        "these numbers in those campaigns are withdrawn from the vendors. One result per number: added, "
        "already_listed (in every campaign asked) or invalid (with a message). `withdrawals` lists your leads "
        "withdrawn, with the outcome per vendor (`unsupported`: that vendor could not be told to stop). "
        "The global DNC list is staff-only."
    ),
    request=DncAddSerializer, parameters=[IDEMPOTENCY_PARAM],
    responses={200: DncAddResultSerializer, **error_responses(400, 401, 409, 422, 429)},
)
class DncAddView(PartnerView):
    def post(self, request, *args, **kwargs):
        serializer = DncAddSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        if data.get("campaign"):
            campaigns = [scoped_campaign(request, data["campaign"])]
        else:
            campaigns = list(scoping.campaigns_for(request.auth).order_by("pk"))
            if not campaigns:
                raise field_error("campaign", "invalid_field", "This API key has no campaigns to add numbers to.")
        regions = {c.phone_region for c in campaigns}
        region = regions.pop() if len(regions) == 1 else settings.DEFAULT_PHONE_REGION
        results, valid = [], []
        for index, raw in enumerate(data["numbers"]):
            try:
                phone = parse_phone(raw, region).e164
            except PhoneError as exc:
                results.append({"index": index, "input": raw, "phone": None, "status": "invalid", "message": exc.message})
                continue
            results.append({"index": index, "input": raw, "phone": phone, "status": "already_listed", "message": ""})
            valid.append(phone)
        added, withdrawn, withdrawn_ids = set(), 0, []
        for campaign in campaigns:
            outcome = intake.add_to_dnc(valid, campaign=campaign, reason=data.get("reason", ""),
                                        source=partner_source(request))
            added.update(outcome.added)
            withdrawn += outcome.leads_withdrawn
            withdrawn_ids += outcome.withdrawn_ids
        # a shared campaign's other partners' leads are counted, never shown
        own = scoping.leads_for(request.auth).filter(pk__in=withdrawn_ids).order_by("pk").values_list("pk", flat=True)
        outcomes = withdrawals.per_lead(own)
        for item in results:
            if item["status"] == "invalid":
                continue
            if item["phone"] in added:
                item["status"], item["message"] = "added", "Added to the do-not-call list."
            else:
                item["message"] = "Already on the do-not-call list."
        return Response({"campaigns": [c.slug for c in campaigns], "results": results, "leads_withdrawn": withdrawn,
                         "withdrawals": [{"lead": pk, "withdrawal": outcomes.get(pk, [])} for pk in sorted(outcomes)]})


@extend_schema(
    tags=["dnc"], summary="May this number be called in this campaign?",
    description="Checks the campaign's do-not-call list and the global one; says which list has the number.",
    parameters=[DncCheckQuerySerializer], responses={200: DncCheckResultSerializer, **error_responses(400, 401, 429)},
)
class DncCheckView(PartnerView):
    def get(self, request, *args, **kwargs):
        query = DncCheckQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        campaign = scoped_campaign(request, query.validated_data["campaign"])
        try:
            phone = parse_phone(query.validated_data["phone"], campaign.phone_region).e164
        except PhoneError as exc:
            raise field_error("phone", exc.code, exc.message)
        scopes = set(
            DNC.objects.filter(Q(campaign__isnull=True) | Q(campaign=campaign), phone=phone)
            .values_list("campaign_id", flat=True)
        )
        if not scopes:
            body = {"phone": phone, "campaign": campaign.slug, "callable": True, "code": None, "reason": None,
                    "listed": None}
        else:
            listed = "global" if None in scopes else "campaign"
            where = "for every campaign" if listed == "global" else f"for campaign {campaign.slug!r}"
            body = {"phone": phone, "campaign": campaign.slug, "callable": False, "code": "dnc",
                    "reason": f"{phone} is on the do-not-call list {where}.", "listed": listed}
        return Response(body)
