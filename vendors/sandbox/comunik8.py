"""Comunik8 simulator — seeds/002_4225819f1990393e.txt, under the prefix ``/comunik8``.

    POST /lead/add?key=KEY      200 {"saved": true, "processed": true} | {"test": "ok"}
                                200 {"saved": true, "processed": false, "error": "Existing Contact" |
                                     "Another call is already scheduled" | "Unknown Type"}
                                400 {field: {"0": message}}
    POST /lead/cancel?key=KEY   200 {"cancelled": true} | {"cancelled": false, "warning": "not found" |
                                     "already processed" | "server error (call group)" | "server error (save)"}
                                400 {field: {"0": message}}

Conventions (deterministic, documented for tests, demos and benchmarks):

- **Credentials.** Any non-empty ``key`` is valid except one containing
  ``invalid``. The seed says nothing about a bad key; the answers' shape (field
  dictionaries keyed "0") is Yii's, so the sim answers like a Yii REST app:
  HTTP 401 ``{"name": "Unauthorized", "message": "Your request was made with
  invalid credentials.", "code": 0, "status": 401}`` (also when ``key`` is missing).
  Contacts are kept per key.
- **Validation (400).** ``email`` (valid address), ``first_name``, ``surname``,
  ``mobile`` and ``type`` are required non-empty strings; ``mobile``/``other_phone``
  must be E.164 (``+`` and 8–15 digits) or national (``0`` and 9–10 digits, read as
  UK); ``data``, when present, must be a string holding a non-empty JSON object;
  ``delays`` a whole number ≥ 0; ``test`` true/"true". Unknown fields are ignored.
- **Types.** Any type is known except ones starting with ``unknown`` → "Unknown
  Type" (add) or warning "server error (call group)" (cancel).
- **Magic values:**
    * add with an email whose local part starts with ``already-scheduled`` →
      "Another call is already scheduled" (saved, not processed);
    * add with an email whose local part starts with ``processed`` → accepted and
      at once marked dialled, so a later cancel answers "already processed";
    * a type starting with ``save-error`` → cancel answers "server error (save)";
    * a type starting with ``error-500`` → HTTP 500 (add and cancel), the seed's
      "Internal Server Error".
- **State.** The same mobile (E.164-normalised) + type twice → "Existing Contact";
  a cancelled contact may be added again. Cancel of an unknown mobile+type → "not
  found". Test mode validates (fields, type) and saves nothing.

``state()``: per key, contacts saved, duplicates refused, cancels; totals, test
validations, 400s and 401s.
"""
from __future__ import annotations

import json
import re

from .server import SandboxRequest, SandboxResponse, VendorSim

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_E164 = re.compile(r"^\+[1-9]\d{7,14}$")
_NATIONAL = re.compile(r"^0\d{9,10}$")
_SEPARATORS = re.compile(r"[\s().\-]")
LABELS = {"email": "Email", "first_name": "First Name", "surname": "Surname", "mobile": "Mobile", "type": "Type"}


def normalise_mobile(value) -> str | None:
    if not isinstance(value, str):
        return None
    digits = _SEPARATORS.sub("", value)
    if _E164.match(digits):
        return digits
    if _NATIONAL.match(digits):
        return "+44" + digits[1:]
    return None


def field_errors(errors: dict[str, str]) -> SandboxResponse:
    return SandboxResponse(400, {field: {"0": message} for field, message in errors.items()})


class _Account:
    __slots__ = ("contacts", "duplicates", "cancelled", "saved")

    def __init__(self):
        self.contacts: dict[tuple[str, str], str] = {}   # (type, mobile) -> "scheduled" | "processed"
        self.duplicates = 0
        self.cancelled = 0
        self.saved = 0


class Comunik8Sim(VendorSim):
    prefix = "comunik8"

    def reset(self) -> None:
        self.accounts: dict[str, _Account] = {}
        self.tests_ok = 0
        self.bad_requests = 0
        self.unauthorized = 0

    def handle(self, request: SandboxRequest) -> SandboxResponse:
        path = request.path.rstrip("/")
        handler = {"/lead/add": self.add, "/lead/cancel": self.cancel}.get(path)
        if handler is None or request.method != "POST":
            return SandboxResponse(404, {"name": "Not Found", "message": "Page not found.", "code": 0, "status": 404})
        key = request.arg("key", "")
        if not key or "invalid" in key:
            self.unauthorized += 1
            return SandboxResponse(401, {"name": "Unauthorized", "code": 0, "status": 401,
                                         "message": "Your request was made with invalid credentials."})
        try:
            body = request.json()
        except (ValueError, UnicodeDecodeError):
            body = None
        if not isinstance(body, dict):
            self.bad_requests += 1
            return field_errors({"body": "Request body must be a valid JSON object."})
        lead_type = body.get("type")
        if isinstance(lead_type, str) and lead_type.startswith("error-500"):
            return SandboxResponse(500, {"name": "Internal Server Error", "message": "An internal server error occurred.",
                                         "code": 0, "status": 500})
        account = self.accounts.get(key)
        if account is None:
            account = self.accounts[key] = _Account()
        response = handler(account, body)
        if response.status == 400:
            self.bad_requests += 1
        return response

    def _required(self, body: dict, fields) -> dict[str, str]:
        errors = {}
        for field in fields:
            value = body.get(field)
            if not isinstance(value, str) or not value.strip():
                errors[field] = f"{LABELS[field]} cannot be blank."
        return errors

    # ---- POST /lead/add ------------------------------------------------------------
    def add(self, account: _Account, body: dict) -> SandboxResponse:
        errors = self._required(body, ("email", "first_name", "surname", "mobile", "type"))
        if "email" not in errors and not _EMAIL.match(body["email"]):
            errors["email"] = "Email is not a valid email address."
        mobile = normalise_mobile(body.get("mobile"))
        if "mobile" not in errors and mobile is None:
            errors["mobile"] = "Mobile is not a valid phone number."
        if body.get("other_phone") not in (None, "") and normalise_mobile(body["other_phone"]) is None:
            errors["other_phone"] = "Other Phone is not a valid phone number."
        if "data" in body:
            data = body["data"]
            try:
                parsed = json.loads(data) if isinstance(data, str) else None
            except ValueError:
                parsed = None
            if not isinstance(parsed, dict) or not parsed:
                errors["data"] = "Empty or invalid content of `data` field"
        delays = body.get("delays")
        if "delays" in body and (isinstance(delays, bool) or not isinstance(delays, int) or delays < 0):
            errors["delays"] = "Delays must be an integer."
        test = body.get("test")
        if "test" in body and test not in (True, "true"):
            errors["test"] = "Test must be \"true\" or omitted."
        if errors:
            return field_errors(errors)
        lead_type = body["type"]
        if lead_type.startswith("unknown"):
            return SandboxResponse(200, {"saved": True, "processed": False, "error": "Unknown Type"})
        if test in (True, "true"):
            self.tests_ok += 1
            return SandboxResponse(200, {"test": "ok"})
        local_part = body["email"].split("@", 1)[0].lower()
        if local_part.startswith("already-scheduled"):
            return SandboxResponse(200, {"saved": True, "processed": False, "error": "Another call is already scheduled"})
        contact = (lead_type, mobile)
        if contact in account.contacts:
            account.duplicates += 1
            return SandboxResponse(200, {"saved": True, "processed": False, "error": "Existing Contact"})
        account.contacts[contact] = "processed" if local_part.startswith("processed") else "scheduled"
        account.saved += 1
        return SandboxResponse(200, {"saved": True, "processed": True})

    # ---- POST /lead/cancel ---------------------------------------------------------
    def cancel(self, account: _Account, body: dict) -> SandboxResponse:
        errors = self._required(body, ("type", "mobile"))
        mobile = normalise_mobile(body.get("mobile"))
        if "mobile" not in errors and mobile is None:
            errors["mobile"] = "Mobile is not a valid phone number."
        if errors:
            return field_errors(errors)
        lead_type = body["type"]
        if lead_type.startswith("unknown"):
            return SandboxResponse(200, {"cancelled": False, "warning": "server error (call group)"})
        if lead_type.startswith("save-error"):
            return SandboxResponse(200, {"cancelled": False, "warning": "server error (save)"})
        status = account.contacts.get((lead_type, mobile))
        if status is None:
            return SandboxResponse(200, {"cancelled": False, "warning": "not found"})
        if status == "processed":
            return SandboxResponse(200, {"cancelled": False, "warning": "already processed"})
        del account.contacts[(lead_type, mobile)]
        account.cancelled += 1
        return SandboxResponse(200, {"cancelled": True})

    def state(self) -> dict:
        per_key = {key: {"contacts": len(a.contacts), "saved": a.saved, "duplicates_refused": a.duplicates,
                         "cancelled": a.cancelled} for key, a in self.accounts.items()}
        return {
            "keys": per_key,
            "saved": sum(a.saved for a in self.accounts.values()),
            "duplicates_refused": sum(a.duplicates for a in self.accounts.values()),
            "cancelled": sum(a.cancelled for a in self.accounts.values()),
            "tests_ok": self.tests_ok,
            "bad_requests": self.bad_requests,
            "unauthorized": self.unauthorized,
        }
