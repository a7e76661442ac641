"""Aktify simulator — seeds/000_1dab39cd77a6a77e.txt, under the prefix ``/aktify``.

    POST /api/v1/leads              201 Lead | 400 | 401 | 409 (number already in the key's campaign)
    POST /api/v1/leads/end-contact  201 {success, failure} | 400 | 401
    POST /api/v1/dncs               201 [Dnc] | 400 | 401

Error bodies follow the NestJS shape the real API is generated from:
``{"statusCode": 400, "message": ["…", …], "error": "Bad Request"}``.

Conventions (deterministic, documented for tests, demos and benchmarks):

- **Credentials.** Any non-empty ``x-api-key`` is valid and names its own
  campaign, except keys containing ``invalid`` → 401. Duplicates, end-contacts
  and DNCs are kept per key.
- **Phone numbers** must be US numbers: E.164 ``+1NXXNXXXXXX`` or a national form
  such as ``(509) 555-1234`` / ``509-555-1234`` / ``5095551234``. Anything else is
  malformed → 400 (for end-contact and DNC: the *whole* request fails).
- **Create lead** validates: ``phoneNumber`` required; ``region`` restricted to US
  state codes (50 states + DC); ``zipCode`` (5 digits or ZIP+4) required without
  ``region``; ``link`` and ``linkToShorten`` mutually exclusive (neither is fine: not
  every campaign is a link-click campaign); ``metadata`` an object of string
  values; other fields strings; unknown properties refused.
- **Magic end-contact number:** any number starting **+1 808 555** (e.g.
  ``+18085550100``) is answered in ``failure`` (the "system error on our side").
- End-contact of a number never posted, or already ended, is a ``success`` (as the
  seed says).

``state()``: per key, leads created, duplicates refused, numbers ended, end-contact
failures, DNCs; plus totals and counts of 400s and 401s.
"""
from __future__ import annotations

import hashlib
import re

from vendors.integrations.aktify import US_STATE_CODES

from .server import SandboxRequest, SandboxResponse, VendorSim

_NANP = re.compile(r"^(?:\+?1)?([2-9]\d{2}[2-9]\d{6})$")
_SEPARATORS = re.compile(r"[\s().\-]")
_ZIP = re.compile(r"^\d{5}(?:-\d{4})?$")
LEAD_STRING_FIELDS = ("phoneNumber", "region", "zipCode", "email", "externalCreated", "externalLeadId",
                      "firstName", "lastName", "source", "link", "linkToShorten")
FAILURE_PREFIX = "+1808555"


def normalise(number) -> str | None:
    """E.164 for a US number in any of the accepted forms; None when malformed."""
    if not isinstance(number, str):
        return None
    raw = number.strip()
    if not raw:
        return None
    digits = _SEPARATORS.sub("", raw)
    match = _NANP.match(digits)
    if not match or (digits.startswith("+") and not digits.startswith("+1")):
        return None
    return "+1" + match.group(1)


def bad_request(*messages: str) -> SandboxResponse:
    return SandboxResponse(400, {"statusCode": 400, "message": list(messages), "error": "Bad Request"})


class _Campaign:
    __slots__ = ("leads", "duplicates", "ended", "end_failures", "dncs")

    def __init__(self):
        self.leads: dict[str, dict] = {}
        self.duplicates = 0
        self.ended: set[str] = set()
        self.end_failures = 0
        self.dncs: set[str] = set()


class AktifySim(VendorSim):
    prefix = "aktify"

    def reset(self) -> None:
        self.campaigns: dict[str, _Campaign] = {}
        self.bad_requests = 0
        self.unauthorized = 0

    def handle(self, request: SandboxRequest) -> SandboxResponse:
        route = (request.method, request.path.rstrip("/"))
        handler = {
            ("POST", "/api/v1/leads"): self.create_lead,
            ("POST", "/api/v1/leads/end-contact"): self.end_contact,
            ("POST", "/api/v1/dncs"): self.create_dncs,
        }.get(route)
        if handler is None:
            return SandboxResponse(404, {"statusCode": 404, "message": f"Cannot {request.method} {request.path}",
                                         "error": "Not Found"})
        key = request.headers.get("x-api-key", "")
        if not key or "invalid" in key:
            self.unauthorized += 1
            return SandboxResponse(401, {"statusCode": 401, "message": "Unauthorized"})
        try:
            body = request.json()
        except (ValueError, UnicodeDecodeError):
            self.bad_requests += 1
            return bad_request("Request body must be JSON.")
        campaign = self.campaigns.get(key)
        if campaign is None:
            campaign = self.campaigns[key] = _Campaign()
        response = handler(campaign, body)
        if response.status == 400:
            self.bad_requests += 1
        return response

    # ---- POST /api/v1/leads --------------------------------------------------------
    def create_lead(self, campaign: _Campaign, body) -> SandboxResponse:
        if not isinstance(body, dict):
            return bad_request("Request body must be a CreateLead object.")
        errors = [f"property {k} should not exist" for k in body if k not in LEAD_STRING_FIELDS and k != "metadata"]
        errors += [f"{k} must be a string" for k in LEAD_STRING_FIELDS if k in body and not isinstance(body[k], str)]
        if errors:
            return bad_request(*errors)
        phone = normalise(body.get("phoneNumber"))
        if "phoneNumber" not in body:
            errors.append("phoneNumber should not be empty")
        elif phone is None:
            errors.append("phoneNumber must be a valid US phone number")
        region, zip_code = body.get("region"), body.get("zipCode")
        if region is not None and region not in US_STATE_CODES:
            errors.append("region must be a US state code")
        if zip_code is not None and not _ZIP.match(zip_code):
            errors.append("zipCode must be a valid US zip code")
        if region is None and zip_code is None:
            errors.append("zipCode is required if region is not provided")
        if "link" in body and "linkToShorten" in body:
            errors.append("link and linkToShorten are mutually exclusive")
        metadata = body.get("metadata")
        if "metadata" in body and (not isinstance(metadata, dict)
                                   or not all(isinstance(v, str) for v in metadata.values())):
            errors.append("metadata must be an object whose values are all strings")
        if errors:
            return bad_request(*errors)
        if phone in campaign.leads:
            campaign.duplicates += 1
            return SandboxResponse(409, {"statusCode": 409, "error": "Conflict",
                                         "message": f"Lead with phone number {phone} was already submitted to the campaign"})
        lead = {k: v for k, v in body.items() if k != "linkToShorten"}
        if "linkToShorten" in body:
            digest = hashlib.sha1(body["linkToShorten"].encode()).hexdigest()[:8]
            lead["link"] = f"https://shortlink.aktify.com/{digest}"
        campaign.leads[phone] = lead
        return SandboxResponse(201, lead)

    # ---- POST /api/v1/leads/end-contact --------------------------------------------
    def _number_list(self, body, field: str, limit: int | None):
        if not isinstance(body, dict) or not isinstance(body.get(field), list):
            return None, bad_request(f"{field} must be an array")
        numbers = body[field]
        if not numbers:
            return None, bad_request(f"{field} should not be empty")
        if limit and len(numbers) > limit:
            return None, bad_request(f"{field} must contain no more than {limit} elements")
        if len(set(map(str, numbers))) != len(numbers):
            return None, bad_request(f"All {field}'s elements must be unique")
        normalised = []
        for index, number in enumerate(numbers):
            e164 = normalise(number)
            if e164 is None:
                return None, bad_request(f"{field}.{index} ({number!r}) is not a valid phone number")
            normalised.append(e164)
        return normalised, None

    def end_contact(self, campaign: _Campaign, body) -> SandboxResponse:
        numbers, error = self._number_list(body, "phoneNumberList", 50)
        if error:
            return error
        success, failure = [], []
        for number in numbers:
            if number.startswith(FAILURE_PREFIX):
                failure.append(number)
                campaign.end_failures += 1
            else:
                success.append(number)
                campaign.ended.add(number)
        return SandboxResponse(201, {"success": success, "failure": failure})

    # ---- POST /api/v1/dncs ---------------------------------------------------------
    def create_dncs(self, campaign: _Campaign, body) -> SandboxResponse:
        if not isinstance(body, dict) or not isinstance(body.get("dncList"), list):
            return bad_request("dncList must be an array")
        entries = body["dncList"]
        created = []
        for index, entry in enumerate(entries):
            number = entry.get("phoneNumber") if isinstance(entry, dict) else None
            if normalise(number) is None:
                return bad_request(f"dncList.{index}.phoneNumber ({number!r}) is not a valid phone number")
            created.append(number)
        campaign.dncs.update(normalise(n) for n in created)
        return SandboxResponse(201, [{"phoneNumber": n} for n in created])

    def state(self) -> dict:
        per_key = {
            key: {"leads_created": len(c.leads), "duplicates_refused": c.duplicates, "ended": len(c.ended),
                  "end_contact_failures": c.end_failures, "dncs": len(c.dncs)}
            for key, c in self.campaigns.items()
        }
        return {
            "keys": per_key,
            "leads_created": sum(len(c.leads) for c in self.campaigns.values()),
            "duplicates_refused": sum(c.duplicates for c in self.campaigns.values()),
            "ended": sum(len(c.ended) for c in self.campaigns.values()),
            "dncs": sum(len(c.dncs) for c in self.campaigns.values()),
            "bad_requests": self.bad_requests,
            "unauthorized": self.unauthorized,
        }
