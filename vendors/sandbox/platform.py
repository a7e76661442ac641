"""Simulator of the ipSCAPE "Platform API" (seed 001_ade25d08a29a4340).

Tenant root: ``/platform/platform-api`` on the sandbox, so an account's base_url
is ``http://<sandbox>/platform/platform-api`` and requests arrive here as
``/platform-api/v3.0/<resource>`` (the client's ENDPOINTS table).

The seed gives endpoints, bodies and success samples but no error statuses and
no error body. This simulator answers errors in one Laravel-style shape,

    {"message": "The given data was invalid.", "errors": {"listId": ["..."]}}

with 401 (auth), 404 (unknown id/route), 405, 409 (duplicate customerKey) and
422 (validation).

How a test reaches each state (magic values)
--------------------------------------------
* ``Authorization`` missing or empty → 401 ``{"message": "Unauthenticated."}``;
  any value containing ``invalid`` → 401; containing ``forbidden`` → 403.
* Pre-seeded lists (campaign 99): **100** "List One" (normal), **101** "Slow
  Imports" (a bulk job with any lead for it never finishes: status stays
  ``processing``), **102** "Failing Imports" (bulk jobs end ``failed`` with no
  per-lead errors and create nothing), **103** "Paused List" (``inDialler``
  false). Any other ``listId`` → 422 ``listId: The selected list id is invalid.``
  ``POST lists`` creates more (ids from 200).
* Bad formats → 422 (single add) or a bulk ``errorList`` entry: a phone that is
  not ``+``/digits with 6–15 digits (e.g. ``+12``), a ``timezone`` that is not an
  IANA zone, a ``nextAttemptTimestamp`` that is not ISO 8601, ``leadData`` that
  is not an object, unknown body fields, wrong types, no phone at all.
* Same ``customerKey`` twice in one list → 409 ``customerKey: ... already
  exists in this list.`` (single add). A **bulk import does not check it** (the
  seed promises no such check, and a real tenant imports a re-posted bulk
  twice), unless a test sets ``sim.bulk_checks_duplicates``; ``state()`` counts
  ``duplicate_keys``, the customerKeys held more than once in a list.
* ``GET/PATCH/DELETE leads/{id}`` of an unknown or deleted id → 404.
* ``isCompleted: false`` → 422 (a lead can only be completed).
* ``POST leads/bulk`` with no ``leads`` array, an empty one, or more than
  ``BULK_LIMIT`` (500) leads → 422 for the whole call.
* Bulk jobs report ``processing`` until polled ``BULK_POLLS`` (2) times, then
  ``completed``. Leads are created when the job is submitted.
* ``GET leads/bulk/{uuid}/errors`` pages ``ERRORS_PAGE_SIZE`` (10) errors a page,
  ``pageNo`` from 1, ``nextPageLink`` absolute (built from the Host header) or
  null on the last page; ``errorList`` is keyed by the 0-based row index, each
  ``{"customerKey": ..., "errors": {field: [msg]}}``.
* ``GET lists`` pages ``LISTS_PAGE_SIZE`` (2) lists, ``GET leads``
  ``LEADS_PAGE_SIZE`` (100) leads; ``metadata.nextCursor`` is null on the last page.
* ``DELETE customer`` without ``phoneNumber`` or ``emailAddress`` → 422; otherwise
  200 with what was erased (leads with that phone1..3 or leadData email go).
"""
from __future__ import annotations

import bisect
import collections
import datetime as dt
import itertools
import re
import time
import uuid as uuidlib
import zoneinfo
from functools import lru_cache
from typing import Any

from .server import SandboxRequest, SandboxResponse, VendorSim

ROOT = "/platform-api/v3.0"
BULK_LIMIT = 500
BULK_POLLS = 2
ERRORS_PAGE_SIZE = 10
LISTS_PAGE_SIZE = 2
LEADS_PAGE_SIZE = 100
PHONE_RE = re.compile(r"^\+?[0-9]{6,15}$")
SLOW_LIST, FAILING_LIST, PAUSED_LIST = 101, 102, 103

LEAD_FIELDS = {"listId": "int", "customerKey": "str", "timezone": "str", "phone1": "str", "phone2": "str",
               "phone3": "str", "nextAttemptTimestamp": "str", "leadData": "dict", "statusCode": "int",
               "agentId": "int"}
UPDATE_FIELDS = {**LEAD_FIELDS, "isCompleted": "bool"}
INVALID = "The given data was invalid."
TYPES = {"int": int, "str": str, "dict": dict, "bool": bool}
TYPE_WORDS = {"int": "an integer", "str": "a string", "dict": "an object", "bool": "a boolean"}


@lru_cache(maxsize=512)
def _valid_zone(name: str) -> bool:
    try:
        zoneinfo.ZoneInfo(name)
        return True
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False


def _now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def _parse_stamp(value: str) -> float | None:
    try:
        when = dt.datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return when.timestamp()


def _invalid(errors: dict[str, list[str]], status: int = 422) -> SandboxResponse:
    return SandboxResponse(status, {"message": INVALID if status == 422 else "Conflict.", "errors": errors})


def _not_found(what: str) -> SandboxResponse:
    return SandboxResponse(404, {"message": f"{what} not found."})


class PlatformSim(VendorSim):
    prefix = "platform"

    def reset(self) -> None:
        self.lists: dict[int, dict] = {}
        for list_id, name in ((100, "List One"), (SLOW_LIST, "Slow Imports"), (FAILING_LIST, "Failing Imports"),
                              (PAUSED_LIST, "Paused List")):
            self._add_list(list_id, name, 99, in_dialler=list_id != PAUSED_LIST)
        self.list_ids = itertools.count(200)
        self.lead_ids = itertools.count(1000)
        self.leads: dict[int, dict] = {}
        self.by_key: dict[tuple[int, str], int] = {}          # (listId, customerKey) → leadId
        self.uploads: dict[int, tuple[list[float], list[int]]] = {}   # listId → (times, leadIds) in upload order
        self.order: list[int] = []                           # every leadId ever created, in order
        self.jobs: dict[str, dict] = {}
        self.erased: list[dict] = []
        self.counts = {"deleted": 0, "completed": 0, "updated": 0, "bulk_leads": 0, "bulk_errors": 0}
        self.bulk_checks_duplicates = False

    def state(self) -> dict:
        held = collections.Counter((lead["listId"], lead["customerKey"]) for lead in self.leads.values()
                                   if lead["customerKey"])
        return {"lists": len(self.lists), "leads": len(self.leads), "bulk_jobs": len(self.jobs),
                "erased_customers": len(self.erased), "duplicate_keys": sum(n > 1 for n in held.values()),
                **self.counts}

    def _add_list(self, list_id: int, name: str, campaign_id: int, in_dialler: bool = True) -> dict:
        stamp = _now_iso()
        self.lists[list_id] = {"id": list_id, "name": name, "campaignId": campaign_id,
                               "campaignName": f"Campaign {campaign_id}", "inDialler": in_dialler, "weight": 1,
                               "timestamps": {"created": stamp, "lastUpdated": stamp}}
        return self.lists[list_id]

    # ---- routing -----------------------------------------------------------
    def handle(self, request: SandboxRequest) -> SandboxResponse:
        auth = request.headers.get("authorization", "").strip()
        if not auth or "invalid" in auth.lower():
            return SandboxResponse(401, {"message": "Unauthenticated."})
        if "forbidden" in auth.lower():
            return SandboxResponse(403, {"message": "This action is unauthorized."})
        if not request.path.startswith(ROOT + "/"):
            return _not_found("Route")
        parts = [p for p in request.path[len(ROOT):].split("/") if p]
        method = request.method
        body: Any = None
        if method in ("POST", "PATCH", "PUT"):
            try:
                body = request.json()
            except (ValueError, UnicodeDecodeError):
                return SandboxResponse(400, {"message": "The request body is not valid JSON."})
            if not isinstance(body, dict):
                return SandboxResponse(400, {"message": "The request body must be a JSON object."})
        route = (method, *parts)
        n = len(parts)
        if parts[:1] == ["leads"]:
            if n == 1 and method == "GET":
                return self.list_leads(request)
            if n == 1 and method == "POST":
                return self.create_lead(body)
            if n == 2 and parts[1] == "bulk" and method == "POST":
                return self.bulk_create(body)
            if n == 3 and parts[1] == "bulk" and method == "GET":
                return self.bulk_status(parts[2])
            if n == 4 and parts[1] == "bulk" and parts[3] == "errors" and method == "GET":
                return self.bulk_errors(request, parts[2])
            if n == 2 and parts[1] != "bulk":
                lead = self.leads.get(int(parts[1])) if parts[1].isdigit() else None
                if lead is None:
                    return _not_found("Lead")
                if method == "GET":
                    self._called_on_its_own(lead)
                    return SandboxResponse(200, self.lead_view(lead))
                if method in ("PATCH", "PUT"):
                    return self.update_lead(lead, body)
                if method == "DELETE":
                    self._remove(lead)
                    self.counts["deleted"] += 1
                    return SandboxResponse(204)
        elif parts[:1] == ["lists"]:
            if n == 1 and method == "GET":
                return self.list_lists(request)
            if n == 1 and method == "POST":
                return self.create_list(body)
            if n == 2 and method == "GET":
                found = self.lists.get(int(parts[1])) if parts[1].isdigit() else None
                return SandboxResponse(200, found) if found else _not_found("List")
        elif route == ("DELETE", "customer"):
            return self.erase(request)
        if parts and parts[0] in ("leads", "lists", "customer"):
            return SandboxResponse(405, {"message": f"The {method} method is not supported for this route."})
        return _not_found("Route")

    # ---- validation ------------------------------------------------------------
    def validate(self, data: dict, fields: dict[str, str], *, create: bool) -> dict[str, list[str]]:
        errors: dict[str, list[str]] = {}
        for key, value in data.items():
            kind = fields.get(key)
            if kind is None:
                errors[key] = [f"The {key} field is not allowed."]
                continue
            if value is None:
                continue
            if type(value) is not TYPES[kind]:      # exact types: JSON gives no subclasses; bool is not int
                errors[key] = [f"The {key} must be {TYPE_WORDS[kind]}."]
        if create and data.get("listId") is None:
            errors.setdefault("listId", ["The list id field is required."])
        list_id = data.get("listId")
        if "listId" not in errors and list_id is not None and list_id not in self.lists:
            errors["listId"] = ["The selected list id is invalid."]
        for key in ("phone1", "phone2", "phone3"):
            value = data.get(key)
            if key not in errors and isinstance(value, str) and value and not PHONE_RE.match(value):
                errors[key] = [f"The {key} format is invalid."]
        if create and not any(data.get(k) for k in ("phone1", "phone2", "phone3")):
            errors.setdefault("phone1", ["At least one phone number is required."])
        tz = data.get("timezone")
        if "timezone" not in errors and isinstance(tz, str) and tz and not _valid_zone(tz):
            errors["timezone"] = ["The timezone must be a valid zone."]
        stamp = data.get("nextAttemptTimestamp")
        if "nextAttemptTimestamp" not in errors and isinstance(stamp, str) and _parse_stamp(stamp) is None:
            errors["nextAttemptTimestamp"] = ["The next attempt timestamp is not a valid date."]
        if data.get("isCompleted") is False:
            errors["isCompleted"] = ["A lead can only be completed; it cannot be marked as not completed."]
        return errors

    def _duplicate(self, data: dict) -> dict[str, list[str]]:
        key = data.get("customerKey")
        if key and (data["listId"], key) in self.by_key:
            return {"customerKey": [f"A lead with customerKey {key!r} already exists in this list."]}
        return {}

    # ---- leads -------------------------------------------------------------------
    def _store(self, data: dict) -> dict:
        lead_id = next(self.lead_ids)
        now = time.time()
        lead = {"leadId": lead_id, "listId": data["listId"], "customerKey": data.get("customerKey"),
                "timezone": data.get("timezone"), "phones": [data.get(k) for k in ("phone1", "phone2", "phone3")],
                "nextAttemptTimestamp": data.get("nextAttemptTimestamp"), "leadData": data.get("leadData") or {},
                "statusCode": data.get("statusCode"), "agentId": data.get("agentId"), "completed": False,
                "uploaded": now}
        self.leads[lead_id] = lead
        if lead["customerKey"]:
            self.by_key[(lead["listId"], lead["customerKey"])] = lead_id
        times, ids = self.uploads.setdefault(lead["listId"], ([], []))
        times.append(now)
        ids.append(lead_id)
        self.order.append(lead_id)
        return lead

    def _remove(self, lead: dict) -> None:
        self.leads.pop(lead["leadId"], None)
        if lead["customerKey"] and self.by_key.get((lead["listId"], lead["customerKey"])) == lead["leadId"]:
            del self.by_key[(lead["listId"], lead["customerKey"])]

    def lead_view(self, lead: dict) -> dict:
        lst = self.lists.get(lead["listId"], {})
        stamp = dt.datetime.fromtimestamp(lead["uploaded"], dt.timezone.utc).isoformat(timespec="seconds")
        return {"leadId": lead["leadId"], "campaignId": lst.get("campaignId"), "campaignName": lst.get("campaignName"),
                "listId": lead["listId"], "listName": lst.get("name"), "timezone": lead["timezone"],
                "completed": lead["completed"], "customerKey": lead["customerKey"], "agentId": lead["agentId"],
                "agentFullName": None, "dataFields": lead["leadData"], "lastStatusCode": lead["statusCode"],
                "lastStatusDescription": lead.get("statusDescription") or ("Completed" if lead["completed"] else "New"),
                "phones": [{"phoneIndex": n + 1, "phoneNumber": p} for n, p in enumerate(lead["phones"]) if p],
                "outcomeType": lead.get("outcomeType", "preview"), "outcomesInfo": {"attempts": 0},
                "timestamps": {"uploaded": stamp, "nextAttempt": lead["nextAttemptTimestamp"]}}

    # what the demo's dialler records, by lead id
    DEMO_CALLS = [(7, "Sale", True), (3, "Abandoned", False), (5, "No answer", False), (9, "Callback requested", False)]

    def _called_on_its_own(self, lead: dict) -> None:
        if self.calls_after is None or "outcomeType" in lead or time.time() - lead["uploaded"] < self.calls_after:
            return
        code, words, completed = self.DEMO_CALLS[lead["leadId"] % len(self.DEMO_CALLS)]
        lead.update(statusCode=code, statusDescription=words, outcomeType="dialler",
                    completed=lead["completed"] or completed)

    def act(self, action: str, params: dict) -> SandboxResponse:
        """``call``: the dialler calls the lead with ``customerKey`` and records ``statusCode``
        and ``description`` (its words for the code), ``outcomeType`` and ``completed``."""
        if action != "call":
            return super().act(action, params)
        lead_id = next((i for (_, key), i in self.by_key.items() if key == params.get("customerKey")), None)
        if lead_id is None:
            return _not_found("Lead")
        lead = self.leads[lead_id]
        lead["statusCode"] = params.get("statusCode")
        lead["statusDescription"] = params.get("description")
        lead["outcomeType"] = params.get("outcomeType", "dialler")
        if params.get("completed"):
            lead["completed"] = True
        return SandboxResponse(200, self.lead_view(lead))

    def create_lead(self, body: dict) -> SandboxResponse:
        errors = self.validate(body, LEAD_FIELDS, create=True)
        if errors:
            return _invalid(errors)
        duplicate = self._duplicate(body)
        if duplicate:
            return _invalid(duplicate, 409)
        lead = self._store(body)
        return SandboxResponse(200, {"leadId": lead["leadId"], "inDialler": self.lists[lead["listId"]]["inDialler"]})

    def update_lead(self, lead: dict, body: dict) -> SandboxResponse:
        errors = self.validate(body, UPDATE_FIELDS, create=False)
        if not errors:
            target = body.get("listId") or lead["listId"]
            key = body.get("customerKey") or lead["customerKey"]
            other = self.by_key.get((target, key)) if key else None
            if other is not None and other != lead["leadId"]:
                return _invalid({"customerKey": [f"A lead with customerKey {key!r} already exists in this list."]}, 409)
        if errors:
            return _invalid(errors)
        self._remove(lead)
        self.leads[lead["leadId"]] = lead
        for n, k in enumerate(("phone1", "phone2", "phone3")):
            if body.get(k) is not None:
                lead["phones"][n] = body[k]
        for k in ("listId", "customerKey", "timezone", "nextAttemptTimestamp", "leadData", "statusCode", "agentId"):
            if body.get(k) is not None:
                lead[k] = body[k]
        if lead["customerKey"]:
            self.by_key[(lead["listId"], lead["customerKey"])] = lead["leadId"]
        if body.get("isCompleted") is True and not lead["completed"]:
            lead["completed"] = True
            self.counts["completed"] += 1
        self.counts["updated"] += 1
        return SandboxResponse(200, self.lead_view(lead))

    def list_leads(self, request: SandboxRequest) -> SandboxResponse:
        list_id, key = request.arg("listId"), request.arg("customerKey")
        if list_id is not None and not list_id.isdigit():
            return _invalid({"listId": ["The list id must be an integer."]})
        if key:
            ids = [self.by_key[(lid, key)] for lid in ([int(list_id)] if list_id else self.lists)
                   if (lid, key) in self.by_key]
            start = 0
        else:
            times, ids = self.uploads.get(int(list_id), ([], [])) if list_id else ([], self.order)
            start = 0
            since = request.arg("uploadedTimestampFrom")
            if since:
                when = _parse_stamp(since)
                if when is None:
                    return _invalid({"uploadedTimestampFrom": ["The uploaded timestamp from is not a valid date."]})
                if list_id:
                    start = bisect.bisect_left(times, when)
                else:
                    ids = [i for i in ids if i in self.leads and self.leads[i]["uploaded"] >= when]
        cursor = request.arg("cursor")
        if cursor:
            if not cursor.isdigit():
                return _invalid({"cursor": ["The cursor is invalid."]})
            start = max(start, int(cursor))
        items, pos = [], start
        while pos < len(ids) and len(items) < LEADS_PAGE_SIZE:
            lead = self.leads.get(ids[pos])
            pos += 1
            if lead is not None:
                items.append(self.lead_view(lead))
        more = pos < len(ids)
        return SandboxResponse(200, {"metadata": {"count": len(items), "limit": LEADS_PAGE_SIZE,
                                                  "nextCursor": str(pos) if more else None}, "items": items})

    # ---- bulk ---------------------------------------------------------------------
    def bulk_create(self, body: dict) -> SandboxResponse:
        leads = body.get("leads")
        if not isinstance(leads, list) or not leads:
            return _invalid({"leads": ["The leads field is required and must be a non-empty array."]})
        if len(leads) > BULK_LIMIT:
            return _invalid({"leads": [f"The leads may not have more than {BULK_LIMIT} items."]})
        job = {"uuid": str(uuidlib.uuid4()), "polls": 0, "errors": {}, "created": 0, "total": len(leads),
               "mode": "normal"}
        list_ids = {lead.get("listId") for lead in leads if isinstance(lead, dict)}
        if FAILING_LIST in list_ids:
            job["mode"] = "failed"
        elif SLOW_LIST in list_ids:
            job["mode"] = "slow"
        if job["mode"] != "failed":
            for n, lead in enumerate(leads):
                if not isinstance(lead, dict):
                    job["errors"][str(n)] = {"customerKey": None, "errors": {"lead": ["Each lead must be an object."]}}
                    continue
                errors = self.validate(lead, LEAD_FIELDS, create=True)
                if not errors and self.bulk_checks_duplicates:
                    errors = self._duplicate(lead)
                if errors:
                    job["errors"][str(n)] = {"customerKey": lead.get("customerKey"), "errors": errors}
                    continue
                self._store(lead)
                job["created"] += 1
        self.jobs[job["uuid"]] = job
        self.counts["bulk_leads"] += len(leads)
        self.counts["bulk_errors"] += len(job["errors"])
        return SandboxResponse(200, {"uuid": job["uuid"], "status": "queued"})

    def bulk_status(self, uuid: str) -> SandboxResponse:
        job = self.jobs.get(uuid)
        if job is None:
            return _not_found("Bulk import")
        job["polls"] += 1
        if job["mode"] == "slow" or job["polls"] < BULK_POLLS:
            status = "processing"
        else:
            status = "failed" if job["mode"] == "failed" else "completed"
        done = status != "processing"
        return SandboxResponse(200, {
            "uuid": uuid, "status": status,
            "error_link": {"href": f"{ROOT}/leads/bulk/{uuid}/errors"} if done and job["errors"] else {},
            "result": {"total": job["total"], "created": job["created"], "failed": len(job["errors"])} if done else {},
        })

    def bulk_errors(self, request: SandboxRequest, uuid: str) -> SandboxResponse:
        job = self.jobs.get(uuid)
        if job is None:
            return _not_found("Bulk import")
        page = request.arg("pageNo", "1")
        if not page.isdigit() or int(page) < 1:
            return _invalid({"pageNo": ["The page no must be at least 1."]})
        page_no = int(page)
        keys = list(job["errors"])
        total = max(1, -(-len(keys) // ERRORS_PAGE_SIZE))
        chunk = keys[(page_no - 1) * ERRORS_PAGE_SIZE: page_no * ERRORS_PAGE_SIZE]
        link = None
        if page_no < total:
            host = request.headers.get("host", "127.0.0.1")
            link = f"http://{host}/{self.prefix}{ROOT}/leads/bulk/{uuid}/errors?pageNo={page_no + 1}"
        return SandboxResponse(200, {"pageNo": page_no, "limit": ERRORS_PAGE_SIZE,
                                     "errorList": {k: job["errors"][k] for k in chunk},
                                     "totalPages": total, "nextPageLink": link})

    # ---- lists ----------------------------------------------------------------------
    def list_lists(self, request: SandboxRequest) -> SandboxResponse:
        campaign = request.arg("campaignId")
        if campaign is not None and not campaign.isdigit():
            return _invalid({"campaignId": ["The campaign id must be an integer."]})
        rows = [lst for lst in self.lists.values() if campaign is None or lst["campaignId"] == int(campaign)]
        cursor = request.arg("cursor") or "0"
        if not cursor.isdigit():
            return _invalid({"cursor": ["The cursor is invalid."]})
        start = int(cursor)
        items = rows[start:start + LISTS_PAGE_SIZE]
        more = start + LISTS_PAGE_SIZE < len(rows)
        return SandboxResponse(200, {"metadata": {"count": len(items), "limit": LISTS_PAGE_SIZE,
                                                  "nextCursor": str(start + LISTS_PAGE_SIZE) if more else None},
                                     "items": items})

    def create_list(self, body: dict) -> SandboxResponse:
        errors = {}
        if not isinstance(body.get("listName"), str) or not body["listName"].strip():
            errors["listName"] = ["The list name field is required."]
        campaign = body.get("campaignId")
        if not isinstance(campaign, int) or isinstance(campaign, bool):
            errors["campaignId"] = ["The campaign id field is required and must be an integer."]
        unknown = set(body) - {"listName", "campaignId"}
        for key in unknown:
            errors[key] = [f"The {key} field is not allowed."]
        if errors:
            return _invalid(errors)
        lst = self._add_list(next(self.list_ids), body["listName"].strip(), campaign)
        return SandboxResponse(200, {"listName": lst["name"], "campaignId": campaign, "listId": lst["id"]})

    # ---- customer erase --------------------------------------------------------------
    def erase(self, request: SandboxRequest) -> SandboxResponse:
        phone, email = request.arg("phoneNumber") or "", request.arg("emailAddress") or ""
        if not phone and not email:
            return _invalid({"phoneNumber": ["A phone number or an email address is required."]})
        if phone and not PHONE_RE.match(phone):
            return _invalid({"phoneNumber": ["The phone number format is invalid."]})
        gone = [lead for lead in self.leads.values()
                if (phone and phone in lead["phones"])
                or (email and str(lead["leadData"].get("email", "")).lower() == email.lower())]
        for lead in gone:
            self._remove(lead)
        self.erased.append({"phoneNumber": phone, "emailAddress": email})
        return SandboxResponse(200, {"callData": {"deleted": 0}, "emailData": {"deleted": 0},
                                     "leadData": {"deleted": len(gone)}})
