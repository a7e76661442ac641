"""Comunik8 — implements seeds/002_4225819f1990393e.txt (Comunik8 Leads API, README of comunik8/api-docs).

Operations used by LeadHub:

    push         POST /lead/add?key=API_KEY     one lead per call
    end_contact  POST /lead/cancel?key=API_KEY  {type, mobile}
    check_connection  POST /lead/add with "test": true (validates, saves nothing)

Points of the contract that are easy to get wrong:

- The API key travels in the *query string* (``?key=``). ``VendorClient.redact``
  removes it (raw and URL-encoded) from every recorded URL, and base.py's log
  filter removes it from urllib3's debug line, which logs the whole URL.
- There is no default host: each customer gets its own (``account.base_url``).
- The lead type is the destination's ``remote_ref``; a contact's identity at the
  vendor is mobile + type, so cancel must send the *same* mobile text as add.
- ``email``, ``first_name``, ``surname``, ``mobile`` and ``type`` are required
  (``type`` is the destination's). ``lead_requirements`` declares the lead's
  part (email, first_name, last_name), so intake refuses a lead without them
  (or, by the campaign's policy, does not route it here) instead of the vendor
  answering "Email cannot be blank." for each one later.
- ``data`` is a JSON *string* (``"{\\"a\\":\\"b\\"}"``), not an object, and an empty
  one is an error ("Empty or invalid content of `data` field"), so it is left out
  when the lead has no metadata or mapped extras.
- ``delays`` is whole seconds: the time until ``item.contact_at``, rounded up
  (never early), sent only when that time is in the future.
- ``"test": true`` (destination setting ``test``) validates without saving and
  answers ``{"test": "ok"}`` → ACCEPTED with code ``test_ok``.
- Errors come two ways. HTTP 400 ``{field: {"0": message}}`` → REJECTED ``invalid``
  with the fields named. HTTP 200 ``{"saved": true, "processed": false, "error": …}``:
    * "Existing Contact" → ACCEPTED ``duplicate`` (the vendor already has it);
    * "Another call is already scheduled" → ACCEPTED ``call_scheduled``: the lead
      was saved (``saved: true``) and the vendor will call this person; retrying
      returns the same answer until that call happens and rejecting would report
      a failure for a person who *is* going to be called. The code keeps the
      nuance visible in the delivery record;
    * "Unknown Type" → REJECTED ``unknown_type`` (fix the destination's type).
- Cancel answers ``{"cancelled": true}`` or ``{"cancelled": false, "warning": …}``:
  "not found" → ACCEPTED ``not_found`` (nothing left to stop); "already
  processed" → REJECTED ``already_processed`` (the call has happened);
  "server error (…)" → RETRY — with code ``unknown_type`` for "(call group)",
  which the seed documents as "Type doesn't exist" (it will keep failing until
  the type is fixed, and then ``max_attempts`` ends it), else ``vendor_unavailable``.
- HTTP 500 is documented ("contact us"); ``send()`` treats it as transient.
- Mobile numbers: the seed's example is UK national (``07840258823``) but the field
  only says "a valid phone number". We send E.164 (unambiguous for any country)
  unless the destination setting ``mobile_format`` is ``"national"`` (digits only,
  e.g. ``07840258823``) for hosts whose validator insists on it.
"""
from __future__ import annotations

import json
import math
import re
from typing import Any

import phonenumbers
from django.utils import timezone

from campaigns.requirements import PHONE, Requirement

from .base import ACCEPTED, REJECTED, RETRY, ConnectionReport, DemoSetup, Item, ItemResult, VendorClient, VendorError
from .setting_checks import boolean, lead_field_mapping, one_of, text

MOBILE_FORMATS = ("e164", "national")
# The seed's /lead/add fields marked "required: yes" that come from the lead (mobile is its phone).
REQUIREMENTS = [
    PHONE,
    Requirement(("email",), "an email address (email)"),
    Requirement(("first_name",), "a first name (first_name)"),
    Requirement(("last_name",), "a surname (last_name)"),
]
ADD_PATH, CANCEL_PATH = "/lead/add", "/lead/cancel"


def text_value(value: Any) -> str:
    if value is None:
        return ""
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


class Comunik8Client(VendorClient):
    kind = "comunik8"
    label = "Comunik8"
    seed = "002_4225819f1990393e.txt"
    operations = ("push", "end_contact")
    max_batch = 1
    schedules_calls = True               # the calling window / start time travels with the lead
    required_credentials = ("api_key",)
    remote_ref_label = "Lead type"
    needs_remote_ref = True
    default_base_url = ""                # one host per customer
    base_url_help = "the customer's own host (no default)"
    demo = DemoSetup("cover", credentials={"api_key": "demo-comunik8-key"}, remote_ref="home-cover")

    SETTINGS = {
        "test": "true: only validate leads (\"test\": true); Comunik8 saves nothing.",
        "mobile_format": "\"e164\" (default, +447840258823) or \"national\" (07840258823).",
        "subtype": "Lead sub-type sent with every lead.",
        "data_fields": "Extra `data` keys: {\"data key\": \"lead field\"}, e.g. {\"address\": \"address\"}.",
    }
    setting_checks = {"test": boolean, "mobile_format": one_of(*MOBILE_FORMATS), "subtype": text,
                      "data_fields": lead_field_mapping("data key")}

    @classmethod
    def lead_requirements(cls, settings: dict[str, Any]) -> list[Requirement]:
        return REQUIREMENTS

    # ---- mapping ----------------------------------------------------------------
    def mobile(self, number: Any) -> str:
        e164 = text_value(number)
        if not e164 or self.settings.get("mobile_format", "e164") != "national":
            return e164
        try:
            parsed = phonenumbers.parse(e164, None)
        except phonenumbers.NumberParseException:
            return e164
        return re.sub(r"\D", "", phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL))

    def lead_payload(self, item: Item, *, now=None) -> dict[str, Any]:
        """The /lead/add body for one item."""
        lead = item.lead
        payload: dict[str, Any] = {
            "email": lead.email,
            "first_name": lead.first_name,
            "surname": lead.last_name,
            "mobile": self.mobile(lead.phone),
            "type": self.remote_ref,
        }
        if self.settings.get("subtype"):
            payload["subtype"] = self.settings["subtype"]
        if lead.phone_alt:
            payload["other_phone"] = self.mobile(lead.phone_alt)
        data = {str(k): v for k, v in (lead.metadata or {}).items()}
        for key, field in (self.settings.get("data_fields") or {}).items():
            value = text_value(getattr(lead, field, ""))
            if value:
                data[key] = value
        if data:
            payload["data"] = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
        if item.contact_at is not None:
            seconds = (item.contact_at - (now or timezone.now())).total_seconds()
            if seconds > 0:
                payload["delays"] = math.ceil(seconds)
        if self.settings.get("test"):
            payload["test"] = True
        return payload

    def payload(self, operation: str, item: Item) -> dict[str, Any]:
        if operation == "push":
            return self.lead_payload(item)
        return {"type": self.remote_ref, "mobile": self.mobile(item.lead.phone)}

    def request(self, operation: str, item: Item, payload: dict[str, Any]):
        path = ADD_PATH if operation == "push" else CANCEL_PATH
        return self.send("POST", path, params={"key": self.credentials.get("api_key", "")}, json_body=payload)

    # ---- answers --------------------------------------------------------------------
    def parse(self, operation: str, item: Item, payload: dict[str, Any], response) -> ItemResult:
        body = self.json_or_none(response)
        status = response.status_code
        if status == 400:
            return self._field_errors(item, body, response)
        if not (200 <= status < 300) or not isinstance(body, dict):
            return ItemResult(item.id, REJECTED, code="vendor_error", http_status=status,
                              message=self.redact((response.text or f"HTTP {status}")[:300]))
        if operation == "push":
            return self._added(item, payload, body, response)
        return self._cancelled(item, payload["mobile"], body, response)

    def _added(self, item: Item, payload: dict[str, Any], body: dict, response) -> ItemResult:
        status = response.status_code
        if payload.get("test"):
            if body.get("test") == "ok":
                return ItemResult(item.id, ACCEPTED, code="test_ok", http_status=status,
                                  message="Comunik8 validated the lead (test mode); nothing was saved.")
        if body.get("processed") is True:
            return ItemResult(item.id, ACCEPTED, remote_ref=payload["mobile"], http_status=status)
        error = str(body.get("error") or "")
        known = {
            "existing contact": (ACCEPTED, "duplicate"),
            "another call is already scheduled": (ACCEPTED, "call_scheduled"),
            "unknown type": (REJECTED, "unknown_type"),
        }
        outcome, code = known.get(error.strip().lower(), (REJECTED, "vendor_error"))
        message = error or self.redact(response.text[:300])
        return ItemResult(item.id, outcome, remote_ref=payload["mobile"] if outcome == ACCEPTED else "",
                          code=code, message=self.redact(message), http_status=status)

    def _field_errors(self, item: Item, body: Any, response) -> ItemResult:
        """HTTP 400 ``{field: {"0": message}}`` → one message naming each field."""
        if isinstance(body, dict) and body:
            parts = []
            for field, messages in body.items():
                if isinstance(messages, dict):
                    texts = [str(m) for m in messages.values()]
                elif isinstance(messages, list):
                    texts = [str(m) for m in messages]
                else:
                    texts = [str(messages)]
                parts.append(f"{field}: {' '.join(texts)}")
            message = "; ".join(parts)
        else:
            message = (response.text or "HTTP 400").strip()[:300]
        return ItemResult(item.id, REJECTED, code="invalid", message=self.redact(message), http_status=400)

    def _cancelled(self, item: Item, mobile: str, body: dict, response) -> ItemResult:
        status = response.status_code
        if body.get("cancelled") is True:
            return ItemResult(item.id, ACCEPTED, remote_ref=mobile, http_status=status)
        warning = str(body.get("warning") or "")
        lowered = warning.strip().lower()
        if lowered == "not found":
            return ItemResult(item.id, ACCEPTED, code="not_found", http_status=status,
                              message="Comunik8 has no such lead (not found): nothing to stop.")
        if lowered == "already processed":
            return ItemResult(item.id, REJECTED, code="already_processed", http_status=status,
                              message="Comunik8 has already dialled this lead (already processed).")
        if lowered.startswith("server error"):
            code = "unknown_type" if "call group" in lowered else "vendor_unavailable"
            return ItemResult(item.id, RETRY, code=code, http_status=status, message=self.redact(warning))
        return ItemResult(item.id, REJECTED, code="vendor_error", http_status=status,
                          message=self.redact(warning or response.text[:300]))

    def check_connection(self) -> ConnectionReport:
        """Send a made-up lead in test mode: validated, never saved."""
        error = self.setup_error(account_only=True)
        if error is not None:
            return ConnectionReport(False, f"{error.message} Nothing was sent.")
        lead_type = self.remote_ref or "leadhub-connection-check"
        payload = {"email": "connection-check@example.com", "first_name": "LeadHub", "surname": "Connection check",
                   "mobile": self.mobile("+447700900000"), "type": lead_type, "test": True}
        call = "POST /lead/add (test mode: nothing saved)"
        try:
            response = self.request("push", None, payload)
        except VendorError as error:
            return ConnectionReport(False, error.message, error.http_status, call)
        body = self.json_or_none(response)
        status = response.status_code
        if isinstance(body, dict) and body.get("test") == "ok":
            return ConnectionReport(True, f"Comunik8 accepted the key and validated a test lead of type "
                                          f"{lead_type!r}; nothing was saved.", status, call)
        if isinstance(body, dict) and str(body.get("error", "")).lower() == "unknown type":
            if self.remote_ref:
                return ConnectionReport(False, f"Comunik8 accepted the key but does not know the lead type "
                                               f"{lead_type!r}.", status, call)
            return ConnectionReport(True, "Comunik8 accepted the key (no lead type to check at account level).",
                                    status, call)
        return ConnectionReport(False, f"Comunik8 answered HTTP {status}: {self.redact(response.text[:200])}",
                                status, call)
