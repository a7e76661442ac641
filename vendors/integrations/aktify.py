"""Aktify — implements seeds/000_1dab39cd77a6a77e.txt (OpenAPI, "Aktify API" v1).

Operations used by LeadHub:

    push         POST /api/v1/leads               one lead per call → 201 Lead, 400, 401, 409
    end_contact  POST /api/v1/leads/end-contact   {phoneNumberList} ≤ 50 unique → 201 {success, failure}
    dnc          POST /api/v1/dncs                {dncList: [{phoneNumber}]} → 201 [Dnc]

Points of the contract that are easy to get wrong:

- Auth is the ``x-api-key`` header, and the key names ONE campaign of one company:
  it is the destination's ``secret``, not an account credential. Duplicates are
  therefore per key ("already submitted to the campaign").
- ``region`` is *restricted to US state codes*; ``zipCode`` is required when
  ``region`` is not given. A lead whose region is not a US state code is sent
  with its zip code only. ``lead_requirements`` declares this, so intake refuses
  (or, by the campaign's policy, does not route here) a lead with neither; one
  that got in before is rejected before any request, code ``missing_region``.
- ``link`` and ``linkToShorten`` are mutually exclusive: the lead's ``link``
  goes to exactly one of them, chosen by the destination setting ``link_field``.
- ``metadata`` values must all be strings (numbers/booleans are converted).
- ``externalCreated`` is ISO 8601 (from ``lead.created_at``); ``externalLeadId``
  is ``lead.external_id``. Empty fields are left out rather than sent as "".
- 409 means the number is already in the campaign: ACCEPTED with code
  ``duplicate`` (the lead is there — exactly what a retried push needs).
- end-contact takes at most 50 *unique* numbers and the *whole request fails*
  (400) if one is malformed. We send unique E.164 numbers in chunks of 50; on a
  400 for a chunk of several numbers we resend them one by one so one bad
  number sinks only its own item. Numbers answered in ``failure`` ("a system
  error on our side, feel free to retry") become RETRY results. Numbers not yet
  posted or already ended are in ``success`` (nothing left to stop).
- The DNC endpoint has no documented limit; we use the same chunk size (50).
- There is no read-only endpoint, so ``check_connection`` sends nothing.
- The seed documents no rate-limit or 5xx answers; ``send()`` treats them as
  transient anyway. A whole-call failure (401, 5xx, timeout) stops the rest of
  a ``push`` batch: the remaining items get the same result without a request.
"""
from __future__ import annotations

import json
import re
from typing import Any

from campaigns.requirements import PHONE, Requirement

from .base import ACCEPTED, REJECTED, RETRY, DemoSetup, Item, ItemResult, Unsendable, VendorClient
from .batching import send_unique
from .setting_checks import lead_field_mapping, one_of, text

US_STATE_CODES = frozenset(
    "AL AK AZ AR CA CO CT DE FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ NM NY "
    "NC ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY DC".split()
)
LINK_FIELDS = ("link", "linkToShorten")
E164 = re.compile(r"^\+[1-9]\d{6,14}$")
END_CONTACT_LIMIT = 50


def e164(number: Any) -> str:
    """A lead's number (stored as E.164 text) as text; "" when empty."""
    return str(number) if number else ""


def has_region_or_zip(lead) -> bool:
    """The seed's CreateLead: ``region`` (restricted to US state codes) is "required if zipCode is not
    provided", ``zipCode`` "required if region is not provided"."""
    return (lead.region or "").strip().upper() in US_STATE_CODES or bool((lead.postal_code or "").strip())


REGION_OR_ZIP = Requirement(("region", "postal_code"),
                            "a US state code in region (e.g. CA) or a zip code in postal_code",
                            check=has_region_or_zip)


def text_value(value: Any) -> str:
    """Any lead attribute or metadata value as the string Aktify requires."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"), sort_keys=True)
    return str(value)


def vendor_message(client: VendorClient, response) -> str:
    """The vendor's own words from an error answer (NestJS style {message: str | [str]})."""
    body = client.json_or_none(response)
    message: Any = None
    if isinstance(body, dict):
        message = body.get("message") or body.get("error")
    if isinstance(message, list):
        message = "; ".join(str(m) for m in message)
    if not message:
        message = (response.text or "").strip()[:300] or f"HTTP {response.status_code}"
    return client.redact(str(message))


class AktifyClient(VendorClient):
    kind = "aktify"
    label = "Aktify"
    seed = "000_1dab39cd77a6a77e.txt"
    operations = ("push", "end_contact", "dnc")
    max_batch = 1                        # create lead is single-item
    batch_sizes = {"end_contact": END_CONTACT_LIMIT, "dnc": END_CONTACT_LIMIT}   # numbers per request
    needs_destination_secret = True      # the x-api-key names one campaign
    secret_name = "API key (x-api-key)"
    required_credentials = ()
    remote_ref_label = "Aktify campaign (label only: the API key selects the campaign)"
    default_base_url = "https://api.aktify.io"
    secret_help = "the campaign's x-api-key"
    unchecked = ("Aktify offers no call that checks an API key without creating leads, end-contacts or DNC "
                 "entries; nothing was sent. Keys are per campaign (the destination's secret).")
    demo = DemoSetup("solar", secret="demo-aktify-key")

    SETTINGS = {
        "link_field": "Which Aktify field receives the lead's link: \"link\" (link-click campaign) or "
                      "\"linkToShorten\" (Aktify shortens it and tracks clicks).",
        "default_source": "Text sent as `source` when the lead has none.",
        "metadata_fields": "Extra metadata: {\"metadata key\": \"lead field\"}, e.g. {\"city\": \"city\"}.",
    }
    setting_checks = {"link_field": one_of(*LINK_FIELDS), "default_source": text,
                      "metadata_fields": lead_field_mapping("metadata key")}

    @classmethod
    def lead_requirements(cls, settings: dict[str, Any]) -> list[Requirement]:
        return [PHONE, REGION_OR_ZIP]

    # ---- the one mapping from a Lead to the vendor payload --------------------
    def payload(self, operation: str, item: Item) -> dict[str, Any] | str:
        """push: the CreateLead body; end_contact and dnc: the lead's E.164 number."""
        if operation == "push":
            return self.lead_payload(item)
        number = e164(item.lead.phone)
        if not E164.match(number):      # one malformed number would fail the whole request
            raise Unsendable("invalid", f"{number or 'An empty number'} is not an E.164 number.")
        return number

    def lead_payload(self, item: Item) -> dict[str, Any]:
        """The CreateLead body for one item."""
        lead = item.lead
        payload: dict[str, Any] = {"phoneNumber": e164(lead.phone)}
        region = (lead.region or "").strip().upper()
        zip_code = (lead.postal_code or "").strip()
        if region in US_STATE_CODES:
            payload["region"] = region
        if zip_code:
            payload["zipCode"] = zip_code
        if not has_region_or_zip(lead):  # intake refuses such leads (REGION_OR_ZIP); older ones end here
            shown = f"region {lead.region!r} is not a US state code and " if lead.region else ""
            raise Unsendable("missing_region",
                                  f"Aktify needs a US state code (region) or a zip code; {shown}the lead has no zip code.")
        optional = {
            "email": lead.email,
            "firstName": lead.first_name,
            "lastName": lead.last_name,
            "externalLeadId": lead.external_id,
            "source": lead.source or self.settings.get("default_source", ""),
            "externalCreated": lead.created_at.isoformat(timespec="seconds") if lead.created_at else "",
        }
        payload.update({k: v for k, v in optional.items() if v})
        if lead.link:
            payload[self.settings.get("link_field", "link")] = lead.link
        metadata = {str(k): text_value(v) for k, v in (lead.metadata or {}).items() if v is not None}
        for key, field in (self.settings.get("metadata_fields") or {}).items():
            value = text_value(getattr(lead, field, ""))
            if value:
                metadata[key] = value
        if metadata:
            payload["metadata"] = metadata
        return payload

    def headers(self) -> dict[str, str]:
        return {"x-api-key": self.secret, "Accept": "application/json"}

    # ---- operations -------------------------------------------------------------
    def send_items(self, operation: str, ready: list[tuple[Item, Any]]):
        if operation == "push":
            return super().send_items(operation, ready)
        return send_unique(ready, self._end_contact_chunk if operation == "end_contact" else self._dnc_chunk)

    def request(self, operation: str, item: Item, payload: dict[str, Any]):
        return self.send("POST", "/api/v1/leads", json_body=payload, headers=self.headers())

    def parse(self, operation: str, item: Item, payload: dict[str, Any], response) -> ItemResult:
        status = response.status_code
        if 200 <= status < 300:
            body = self.json_or_none(response)
            ref = body.get("phoneNumber") if isinstance(body, dict) else None
            return ItemResult(item.id, ACCEPTED, remote_ref=str(ref or payload["phoneNumber"]), http_status=status)
        message = vendor_message(self, response)
        if status == 409:
            return ItemResult(item.id, ACCEPTED, remote_ref=payload["phoneNumber"], code="duplicate",
                              message=message, http_status=status)
        if status in (400, 422):
            return ItemResult(item.id, REJECTED, code="invalid", message=message, http_status=status)
        if status == 404:
            return ItemResult(item.id, REJECTED, code="not_found", message=message, http_status=status)
        return ItemResult(item.id, REJECTED, code="vendor_error", message=message, http_status=status)

    def _bad_request(self, response) -> ItemResult:
        return ItemResult(0, REJECTED, code="invalid", message=vendor_message(self, response),
                          http_status=response.status_code)

    def _end_contact_chunk(self, chunk: list[str]) -> dict[str, ItemResult] | ItemResult:
        response = self.send("POST", "/api/v1/leads/end-contact", json_body={"phoneNumberList": chunk},
                             headers=self.headers())
        status = response.status_code
        if status in (400, 422):
            return self._bad_request(response)
        body = self.json_or_none(response)
        if not (200 <= status < 300) or not isinstance(body, dict):
            message = vendor_message(self, response)
            return {n: ItemResult(0, REJECTED, code="vendor_error", message=message, http_status=status) for n in chunk}
        success = set(body.get("success") or [])
        failure = set(body.get("failure") or [])
        out: dict[str, ItemResult] = {}
        for number in chunk:
            if number in success:
                out[number] = ItemResult(0, ACCEPTED, remote_ref=number, http_status=status)
            elif number in failure:
                out[number] = ItemResult(0, RETRY, code="vendor_unavailable", http_status=status,
                                         message="Aktify listed this number under `failure` (a system error on "
                                                 "its side); retrying.")
            else:
                out[number] = ItemResult(0, RETRY, code="unexpected_response", http_status=status,
                                         message="Aktify's answer listed this number neither as success nor failure.")
        return out

    def _dnc_chunk(self, chunk: list[str]) -> dict[str, ItemResult] | ItemResult:
        response = self.send("POST", "/api/v1/dncs", json_body={"dncList": [{"phoneNumber": n} for n in chunk]},
                             headers=self.headers())
        status = response.status_code
        if status in (400, 422):
            return self._bad_request(response)
        if not (200 <= status < 300):
            message = vendor_message(self, response)
            return {n: ItemResult(0, REJECTED, code="vendor_error", message=message, http_status=status) for n in chunk}
        return {n: ItemResult(0, ACCEPTED, remote_ref=n, http_status=status) for n in chunk}
