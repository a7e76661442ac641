"""8x8 Dynamic Campaigns simulator — seeds/003_49fa9a8e5576b093.txt, under the prefix ``/eightbyeight``.

An account's base URL is ``http://host:port/eightbyeight/api/tstats/campaigns``.

    POST   /api/tstats/campaigns/{campaign-id}/customers                207 [per item] | 400 | 401 | 404 | 500
    DELETE /api/tstats/campaigns/{campaign-id}/customers/{customer-id}  204 | 400 | 401 | 404 | 500
    PATCH  /api/tstats/campaigns/{campaign-id}                          200 | 400 | 401 | 404 | 500

Bodies and messages are the seed's examples, word for word. Conventions
(deterministic, for tests, demos and benchmarks):

- **Auth.** HTTP Basic ``tenantId:token``; both parts must be non-empty, and a
  token containing ``invalid`` → 401 ``{"message": "Unauthorized"}`` (the seed
  names no 401 body).
- **Campaigns** are created on first use. Any id (``101``) is RUNNING, dynamic
  and enabled, unless its id starts with a magic prefix:

  ============  =====================================================================
  ``new-``      status NEW (not started): adds → 400 "…has not started."
  ``stopped-``  status STOPPED: adds and deletes → 400 "The campaign has stopped. …"
  ``paused-``   status PAUSED (adds are queued, as for RUNNING)
  ``static-``   not a dynamic campaign → 400 on every call
  ``disabled-`` not enabled → 400 on every call
  ``missing-``  no such campaign → 404 on every call
  ``broken-``   500 ``{"message": "Internal server error"}`` on every call
  ``window-``   campaign schedule from creation time to 24 h later; a later
                schedule-date-time → "…outside the campaign schedule from … to …."
  ============  =====================================================================

- **Status transitions** (PATCH; the seed gives no table, this is ours)::

      NEW     → RUNNING
      RUNNING → PAUSED, STOPPED
      PAUSED  → RUNNING, STOPPED
      STOPPED → RUNNING, PURGED
      PURGED  → (none; PURGED removes every queued customer)

  Anything else, including the current status → 400 "Invalid state transition".
- **Customers** (per item, answer order = request order): ``customer-id`` must
  be digits (string or integer) → else 400 "Invalid customer-id" (echoing
  ``null`` when absent, as the seed does); ids starting with ``4040`` do not
  exist in the Local CRM → 404; already queued in the campaign (or earlier in the
  same request) → 400 "Duplicate customer"; ``schedule-date-time`` must be ISO
  8601 (``YYYY-MM-DDTHH:MM:SS[.fff](Z|±HH:MM)``), not in the past, at most 7 days
  ahead, and inside a ``window-`` campaign's schedule. An empty or non-list body
  → 400 "The provided customer list is invalid."
- **Delete**: queued → 204; unknown → 404 (no body, as the seed); customers whose
  id starts with ``7770`` count as already offered to an agent → 400 "The
  customer is not available for deletion."
- ``now`` is injectable (``sim.now = lambda: …``) so tests can move time.

``state()``: ``{"campaigns": {id: {status, dynamic, enabled, customers: {id: schedule|None}}}}``.
"""
from __future__ import annotations

import base64
import datetime as dt
import re
from typing import Any, Callable

from .server import SandboxRequest, SandboxResponse, VendorSim

ROOT = "/api/tstats/campaigns/"
UNKNOWN_CUSTOMER_PREFIX = "4040"
OFFERED_CUSTOMER_PREFIX = "7770"
TRANSITIONS = {
    "NEW": {"RUNNING"},
    "RUNNING": {"PAUSED", "STOPPED"},
    "PAUSED": {"RUNNING", "STOPPED"},
    "STOPPED": {"RUNNING", "PURGED"},
    "PURGED": set(),
}
ISO_8601 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?(?:Z|[+-]\d{2}:\d{2})$")

# The seed's messages, word for word.
ADD_STOPPED = "The campaign has stopped. No additional customers can be added."
ADD_NEW = "The operation is invalid for a campaign that has not started."
ADD_INVALID_LIST = "The provided customer list is invalid."
ADD_NOT_DYNAMIC = "This is not a dynamic campaign."
ADD_NOT_ENABLED = "The campaign is not enabled."
DELETE_STOPPED = "The campaign has stopped. No customers can be deleted."
DELETE_NOT_DYNAMIC = "This is not a dynamic campaign."
DELETE_NOT_ENABLED = "This campaign is not enabled."
DELETE_NOT_AVAILABLE = "The customer is not available for deletion."
PATCH_INVALID = "Invalid state transition"
PATCH_NOT_DYNAMIC = "Not a dynamic campaign"
PATCH_NOT_ENABLED = "The campaign is not enabled."
SERVER_ERROR = "Internal server error"
ITEM_DUPLICATE = "Duplicate customer"
ITEM_BAD_DATE = "Invalid schedule-date-time format - please use ISO 8601 format"
ITEM_BAD_ID = "Invalid customer-id"
ITEM_NOT_FOUND = "The customer-id has not been found."
ITEM_PAST = "The subject schedule-date-time is in the past."
ITEM_OUTSIDE = "The subject schedule-date-time is outside the campaign schedule from {start} to {end}."
ITEM_TOO_FAR = "The subject schedule-date-time must be within 7 days ahead of a future period."


def iso(when: dt.datetime) -> str:
    return when.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


class EightByEightSim(VendorSim):
    prefix = "eightbyeight"

    def reset(self) -> None:
        self.campaigns: dict[str, dict[str, Any]] = {}
        self.now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.timezone.utc)

    def state(self) -> dict:
        return {"campaigns": {cid: {k: (dict(v) if isinstance(v, dict) else v) for k, v in c.items()}
                              for cid, c in self.campaigns.items()}}

    # ---- helpers ----------------------------------------------------------
    def campaign(self, campaign_id: str) -> dict[str, Any] | None:
        if campaign_id.startswith("missing-"):
            return None
        found = self.campaigns.get(campaign_id)
        if found is None:
            status = "RUNNING"
            for prefix, initial in (("new-", "NEW"), ("stopped-", "STOPPED"), ("paused-", "PAUSED")):
                if campaign_id.startswith(prefix):
                    status = initial
            found = self.campaigns[campaign_id] = {
                "status": status,
                "dynamic": not campaign_id.startswith("static-"),
                "enabled": not campaign_id.startswith("disabled-"),
                "customers": {},
            }
            if campaign_id.startswith("window-"):
                start = self.now()
                found["schedule"] = [iso(start), iso(start + dt.timedelta(hours=24))]
        return found

    @staticmethod
    def authorised(request: SandboxRequest) -> bool:
        header = request.headers.get("authorization", "")
        if not header.startswith("Basic "):
            return False
        try:
            user, _, token = base64.b64decode(header[6:]).decode("utf-8").partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        return bool(user) and bool(token) and "invalid" not in token

    # ---- dispatch ---------------------------------------------------------
    def handle(self, request: SandboxRequest) -> SandboxResponse:
        if not request.path.startswith(ROOT):
            return SandboxResponse(404, {"message": "Not found"})
        if not self.authorised(request):
            return SandboxResponse(401, {"message": "Unauthorized"})
        parts = request.path[len(ROOT):].strip("/").split("/")
        campaign_id = parts[0]
        if campaign_id.startswith("broken-"):
            return SandboxResponse(500, {"message": SERVER_ERROR})
        if len(parts) == 1 and request.method == "PATCH":
            return self.change_status(campaign_id, request)
        if len(parts) == 2 and parts[1] == "customers" and request.method == "POST":
            return self.add_customers(campaign_id, request)
        if len(parts) == 3 and parts[1] == "customers" and request.method == "DELETE":
            return self.delete_customer(campaign_id, parts[2])
        return SandboxResponse(404, {"message": "Not found"})

    def change_status(self, campaign_id: str, request: SandboxRequest) -> SandboxResponse:
        campaign = self.campaign(campaign_id)
        if campaign is None:
            return SandboxResponse(404)
        if not campaign["dynamic"]:
            return SandboxResponse(400, {"message": PATCH_NOT_DYNAMIC})
        if not campaign["enabled"]:
            return SandboxResponse(400, {"message": PATCH_NOT_ENABLED})
        try:
            wanted = request.json().get("status")
        except (ValueError, AttributeError):
            wanted = None
        if wanted not in TRANSITIONS[campaign["status"]]:
            return SandboxResponse(400, {"message": PATCH_INVALID})
        campaign["status"] = wanted
        if wanted == "PURGED":
            campaign["customers"].clear()
        return SandboxResponse(200)

    def add_customers(self, campaign_id: str, request: SandboxRequest) -> SandboxResponse:
        campaign = self.campaign(campaign_id)
        if campaign is None:
            return SandboxResponse(404, {"message": "The campaign cannot be found."})
        refusal = self.add_refusal(campaign)
        if refusal:
            return SandboxResponse(400, {"message": refusal})
        try:
            customers = request.json()
        except ValueError:
            customers = None
        if not isinstance(customers, list) or not customers or not all(isinstance(c, dict) for c in customers):
            return SandboxResponse(400, {"message": ADD_INVALID_LIST})
        return SandboxResponse(207, [self.add_one(campaign, c) for c in customers])

    @staticmethod
    def add_refusal(campaign: dict) -> str:
        if not campaign["dynamic"]:
            return ADD_NOT_DYNAMIC
        if not campaign["enabled"]:
            return ADD_NOT_ENABLED
        if campaign["status"] == "NEW":
            return ADD_NEW
        if campaign["status"] in ("STOPPED", "PURGED"):
            return ADD_STOPPED
        return ""

    def add_one(self, campaign: dict, customer: dict) -> dict:
        raw_id = customer.get("customer-id")
        answer: dict[str, Any] = {"customer-id": raw_id}
        when_text = customer.get("schedule-date-time")
        if when_text is not None:
            answer["schedule-date-time"] = when_text
        customer_id = str(raw_id) if isinstance(raw_id, (str, int)) and not isinstance(raw_id, bool) else ""
        if not customer_id.isdigit():
            return {**answer, "http-status": 400, "message": ITEM_BAD_ID}
        if customer_id.startswith(UNKNOWN_CUSTOMER_PREFIX):
            return {**answer, "http-status": 404, "message": ITEM_NOT_FOUND}
        if customer_id in campaign["customers"]:
            return {**answer, "http-status": 400, "message": ITEM_DUPLICATE}
        if when_text is not None:
            problem = self.schedule_problem(campaign, when_text)
            if problem:
                return {**answer, "http-status": 400, "message": problem}
        campaign["customers"][customer_id] = when_text
        return {**answer, "http-status": 200}

    def schedule_problem(self, campaign: dict, when_text: Any) -> str:
        if not isinstance(when_text, str) or not ISO_8601.match(when_text):
            return ITEM_BAD_DATE
        try:
            when = dt.datetime.fromisoformat(when_text.replace("Z", "+00:00"))
        except ValueError:
            return ITEM_BAD_DATE
        now = self.now()
        if when < now:
            return ITEM_PAST
        if when - now > dt.timedelta(days=7):
            return ITEM_TOO_FAR
        schedule = campaign.get("schedule")
        if schedule:
            start, end = (dt.datetime.fromisoformat(s.replace("Z", "+00:00")) for s in schedule)
            if not start <= when <= end:
                return ITEM_OUTSIDE.format(start=schedule[0], end=schedule[1])
        return ""

    def delete_customer(self, campaign_id: str, customer_id: str) -> SandboxResponse:
        campaign = self.campaign(campaign_id)
        if campaign is None:
            return SandboxResponse(404)
        if not campaign["dynamic"]:
            return SandboxResponse(400, {"message": DELETE_NOT_DYNAMIC})
        if not campaign["enabled"]:
            return SandboxResponse(400, {"message": DELETE_NOT_ENABLED})
        if campaign["status"] in ("STOPPED", "PURGED"):
            return SandboxResponse(400, {"message": DELETE_STOPPED})
        if customer_id not in campaign["customers"]:
            return SandboxResponse(404)
        if customer_id.startswith(OFFERED_CUSTOMER_PREFIX):
            return SandboxResponse(400, {"message": DELETE_NOT_AVAILABLE})
        del campaign["customers"][customer_id]
        return SandboxResponse(204)
