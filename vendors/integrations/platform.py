"""ipSCAPE "Platform API" client — implements seed ``001_ade25d08a29a4340`` ("Design for Platform API 0.0.1").

Operations: add one lead, bulk add, get lead (outcomes), delete or complete a lead (``end_contact``),
erase a customer (``erase``). Points of the contract easy to get wrong:

* **The seed gives almost no paths**: only ``/platform-api/v3.0/media/5364`` and ``/v3.0/leads/bulk/``.
  So the tenant root is ``https://<tenant>/platform-api`` (the account's ``base_url``; no default),
  every path is ``v3.0/<resource>``, and all are in :data:`ENDPOINTS` for a tenant to correct.
* **Auth**: the ``Authorization`` header carries the ``api_key`` *verbatim* (no scheme word).
* ``listId`` is **required** and an **integer** (the destination's ``remote_ref``); ``customerKey``
  is a *string* (our key for the lead); ``leadData`` is an **object**; ``isCompleted`` only goes
  to ``true``.
* Bulk add is an **asynchronous job** (``bulkjobs.BulkJobClient``: posted once, its ``uuid`` stored
  and resumed on retry): ``POST leads/bulk`` → ``{uuid, status}``, polled at ``GET leads/bulk/{uuid}``;
  ``…/errors`` is *paged* (``pageNo``, ``totalPages``, ``nextPageLink``) with an ``errorList``
  *object* whose entries name their row how the seed does not say: by a ``customerKey`` unique in
  the bulk, else by position (0-based; ``bulk_error_index_base``).
* The bulk answer gives **no lead ids**: they are learnt from ``GET leads?listId=&uploadedTimestampFrom=``
  by ``customerKey``; one not learnt leaves ``remote_ref`` empty and the lead is found later by
  ``GET leads?customerKey=&listId=`` (as is each lead of a bulk whose answer was lost).
* Collections are **cursor-paged** (``{metadata, items}``; the cursor is read from ``nextCursor``,
  ``next_cursor`` or ``next``: the seed leaves ``metadata`` empty).
* **No error statuses or bodies** are given: ``message``/``error`` and Laravel-style ``errors``
  are read; 400/422 → ``invalid``, 404 → ``not_found``, 409 → ``duplicate`` (accepted, the
  existing lead's id looked up by ``customerKey``). **No bulk limit**: ``max_batch`` is 500.
"""
from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from campaigns.requirements import PHONE, Requirement

from .base import (
    ACCEPTED, REJECTED, CallOutcome, ConnectionReport, DemoSetup, Item, ItemResult, Unsendable, VendorError, utc_stamp,
)
from .bulkjobs import BULK_CHECKS, BULK_SETTINGS, BulkJobClient
from .error_reading import error_words, flatten_errors
from .paging import walk_cursor
from .setting_checks import boolean, integer, lead_field_mapping, one_of

log = logging.getLogger(__name__)

# THE path table, relative to the tenant root; methods follow the seed's operation names (Create → POST…).
ENDPOINTS: dict[str, tuple[str, str]] = {
    "list_leads":   ("GET",    "v3.0/leads"),                       # ?cursor&listId&customerKey&uploadedTimestampFrom…
    "create_lead":  ("POST",   "v3.0/leads"),                       # → {leadId, inDialler}
    "bulk_create":  ("POST",   "v3.0/leads/bulk"),                  # {leads:[…]} → {uuid, status}
    "bulk_status":  ("GET",    "v3.0/leads/bulk/{uuid}"),           # → {uuid, status, error_link, result}
    "bulk_errors":  ("GET",    "v3.0/leads/bulk/{uuid}/errors"),    # → {pageNo, limit, errorList, totalPages, nextPageLink}
    "get_lead":     ("GET",    "v3.0/leads/{leadId}"),
    "update_lead":  ("PATCH",  "v3.0/leads/{leadId}"),
    "delete_lead":  ("DELETE", "v3.0/leads/{leadId}"),
    "list_lists":   ("GET",    "v3.0/lists"),                       # ?cursor&campaignId
    "get_list":     ("GET",    "v3.0/lists/{listId}"),
    "erase_customer": ("DELETE", "v3.0/customer"),                  # ?phoneNumber&emailAddress
}

MAX_SCAN_PAGES = 50             # bound on the walk that learns bulk lead ids

# Lead attributes a destination may map into leadData / use as customerKey.
LEAD_FIELDS = ("id", "first_name", "last_name", "full_name", "email", "phone", "phone_alt", "address", "city",
               "region", "postal_code", "country", "timezone", "external_id", "source", "link", "consent_url",
               "consent_at", "scheduled_at", "created_at")
CUSTOMER_KEY_FIELDS = ("id", "external_id", "email", "phone")
DEFAULT_LEAD_DATA = {"firstName": "first_name", "lastName": "last_name", "email": "email", "address": "address",
                     "city": "city", "state": "region", "postcode": "postal_code", "country": "country"}


def _text(value: Any) -> str:
    return "" if value is None else utc_stamp(value) if isinstance(value, dt.datetime) else str(value)


class PlatformClient(BulkJobClient):
    kind = "platform"
    label = "ipSCAPE Platform API"
    seed = "001_ade25d08a29a4340"
    operations = ("push", "end_contact", "erase")
    max_batch = 500                       # the seed gives no bulk limit; see module docstring
    schedules_calls = True               # the calling window / start time travels with the lead
    required_credentials = ("api_key",)
    remote_ref_label = "List id (listId)"
    default_base_url = ""                 # per tenant: https://<tenant>/platform-api
    base_url_help = "https://<tenant>/platform-api (one per tenant; no default)"
    SETTINGS = {
        "lead_data_fields": "object {leadData key: lead field}; default maps name, email and address",
        "include_metadata": "true/false: copy the lead's metadata into leadData (default true)",
        "customer_key_field": f"which lead field is customerKey: one of {', '.join(CUSTOMER_KEY_FIELDS)} (default id)",
        "status_code": "integer statusCode for new leads (optional)",
        "agent_id": "integer agentId for new leads (optional)",
        "end_contact_mode": "\"delete\" (DELETE the lead, default) or \"complete\" (update isCompleted: true)",
        **BULK_SETTINGS,
    }
    setting_checks = {**BULK_CHECKS, "lead_data_fields": lead_field_mapping("leadData key", LEAD_FIELDS),
                      "include_metadata": boolean, "customer_key_field": one_of(*CUSTOMER_KEY_FIELDS),
                      "status_code": integer, "agent_id": integer, "end_contact_mode": one_of("delete", "complete")}
    demo = DemoSetup("cover", path="/platform-api", credentials={"api_key": "demo-platform-key"}, remote_ref="100")

    @classmethod
    def lead_requirements(cls, settings: dict[str, Any]) -> list[Requirement]:
        """The seed requires only ``listId``; ``phone1`` is the number to dial, ``customerKey`` how the lead is found."""
        field = (settings or {}).get("customer_key_field", "id")
        if field not in CUSTOMER_KEY_FIELDS or field in ("id", "phone"):  # every lead has it
            return [PHONE]
        return [PHONE, Requirement((field,), f"{field}, which this destination sends as customerKey (the key it "
                                             "finds the lead by)")]

    def call(self, endpoint: str, *, params: dict | None = None, json_body: Any = None, url: str = "", **path_args):
        method, path = ENDPOINTS[endpoint]
        headers = {"Authorization": self.credentials.get("api_key", ""), "Accept": "application/json"}
        return self.send(method, url or path.format(**path_args), params=params, json_body=json_body, headers=headers)

    def words(self, response) -> str:
        return self.redact(error_words(self.json_or_none(response) or response.text, f"HTTP {response.status_code}"))
    def body(self, response, what: str) -> dict:
        """The JSON object of a 2xx answer; a refusal raises :meth:`failure`."""
        if response.status_code >= 300:
            raise self.failure(response, what)
        body = self.json_or_none(response)
        return body if isinstance(body, dict) else {}

    def failure(self, response, what: str) -> VendorError:
        """A 4xx answer to a call about no one item (lookups, polls) as a permanent VendorError."""
        return VendorError(f"{self.label} refused {what}: {self.words(response)}", permanent=True,
                           http_status=response.status_code, code="not_found" if response.status_code == 404
                           else "invalid", body=self.redact(response.text[:500]))

    def item_result(self, item: Item, response, remote_ref: str = "") -> ItemResult:
        """A non-2xx answer about one item as its result."""
        status = response.status_code
        outcome, code = {404: (REJECTED, "not_found"), 409: (ACCEPTED, "duplicate")}.get(status, (REJECTED, "invalid"))
        return ItemResult(item.id, outcome, remote_ref, code, self.words(response), status)

    def list_id(self) -> int:
        try:
            return int(str(self.remote_ref).strip())
        except ValueError:
            raise VendorError(f"The destination's list id {self.remote_ref!r} is not an integer listId; set its "
                              "remote ref to the ipSCAPE list id.", permanent=True, code="invalid") from None

    def row_key(self, item: Item) -> str:
        """The lead's customerKey."""
        return _text(getattr(item.lead, self.setting("customer_key_field", "id"), "")).strip()

    def payload(self, operation: str, item: Item) -> Any:
        """push: the RequestCreateLead body; erase: the customer's phone and email; else nothing."""
        lead = item.lead
        if operation == "erase":
            params = {k: v for k, v in (("phoneNumber", str(lead.phone or "")), ("emailAddress", lead.email)) if v}
            if not params:
                raise Unsendable("invalid", "The lead has neither a phone number nor an email address to erase.")
            return params
        if operation != "push":
            return None
        try:
            list_id = self.list_id()
        except VendorError as error:
            raise Unsendable(error.code, error.message) from None
        if not self.row_key(item):
            raise Unsendable("invalid", f"The lead has no {self.setting('customer_key_field', 'id')} to use as "
                                        "customerKey.")
        if not lead.phone:
            raise Unsendable("invalid", "The lead has no phone number.")
        return self.lead_payload(item, list_id)

    def lead_payload(self, item: Item, list_id: int) -> dict[str, Any]:
        """The one function mapping a Lead to the seed's RequestCreateLead body (empty fields left out)."""
        lead = item.lead
        data: dict[str, Any] = dict(lead.metadata) if self.setting("include_metadata", True) and isinstance(
            lead.metadata, dict) else {}
        data.update((key, value) for key, field in self.setting("lead_data_fields", DEFAULT_LEAD_DATA).items()
                    if (value := _text(getattr(lead, field, ""))))
        payload = {"listId": list_id, "customerKey": self.row_key(item), "timezone": lead.timezone,
                   "phone1": str(lead.phone), "phone2": str(lead.phone_alt or ""),
                   "nextAttemptTimestamp": utc_stamp(item.contact_at) if item.contact_at else ""}
        payload = {k: v for k, v in payload.items() if v not in ("", None)} | {"leadData": data}
        for setting, field in (("status_code", "statusCode"), ("agent_id", "agentId")):
            if self.settings.get(setting) is not None:
                payload[field] = self.setting(setting, None)
        return payload

    # ---- push (bulkjobs.BulkJobClient: a job, or one lead), end contact, erase -------------
    def send_one(self, operation: str, item: Item, params: Any) -> ItemResult:
        return self._end_one(item) if operation == "end_contact" else self._erase_one(item, params)

    def add_one(self, item: Item, payload: dict) -> ItemResult:
        response = self.call("create_lead", json_body=payload)
        if response.status_code >= 300:
            result = self.item_result(item, response)
            result.remote_ref = self.lookup_ref(payload["customerKey"]) if response.status_code == 409 else ""
            return result
        body = self.json_or_none(response)
        body = body if isinstance(body, dict) else {}
        return ItemResult(item.id, ACCEPTED, "" if body.get("leadId") is None else str(body["leadId"]), "",
                          "" if body.get("inDialler", True) else "Added; the list is not in the dialler.",
                          response.status_code)

    def post_job(self, payloads: list[dict]):
        return self.call("bulk_create", json_body={"leads": payloads})

    def job_status(self, job: str) -> str:
        return str(self.body(self.call("bulk_status", uuid=job), f"the status of bulk import {job}").get("status")
                   or "").lower()

    def error_page(self, job: str, link: str | None, page_no: int | None):
        return self.call("bulk_errors", url=link or "", uuid=job,
                         params={"pageNo": page_no} if page_no is not None and not link else None)

    def _leads(self, params: dict, max_pages: int):
        """Every lead of ``GET leads`` with ``params`` (cursor-paged)."""
        return walk_cursor(lambda query: self.body(self.call("list_leads", params=query), "the list leads request"),
                           params, max_pages=max_pages)

    def added_since(self, since: dt.datetime):
        for lead in self._leads({"listId": self.list_id(), "uploadedTimestampFrom": utc_stamp(since)}, MAX_SCAN_PAGES):
            stamps = lead.get("timestamps")
            yield str(lead.get("customerKey") or ""), lead.get("leadId"), (stamps or {}).get("uploaded") \
                if isinstance(stamps, dict) else None

    def find_refs(self, customer_key: str) -> list[str]:
        return [str(lead["leadId"]) for lead in self._leads({"customerKey": customer_key, "listId": self.list_id()}, 5)
                if str(lead.get("customerKey", customer_key)) == customer_key and lead.get("leadId") is not None]

    def _lead_ids(self, item: Item) -> list[str]:
        """The vendor ids of an item: its remote_ref, else looked up by customerKey."""
        return [item.remote_ref] if item.remote_ref else self.find_refs(self.row_key(item))

    # ---- outcomes, end contact, erase --------------------------------------------
    def get_lead(self, item: Item) -> tuple[ItemResult, dict | None]:
        """The vendor's record of a lead (completed, lastStatusCode, outcomesInfo…)."""
        try:
            ids = self._lead_ids(item)
            response = self.call("get_lead", leadId=ids[-1]) if ids else None
        except VendorError as error:
            return self.fail_all([item], error)[0], None
        if response is None or response.status_code >= 300:
            return (self.item_result(item, response, ids[-1]) if response is not None else ItemResult(
                item.id, REJECTED, code="not_found", message="The vendor holds no lead with this customerKey.")), None
        data = self.body(response, "the lead")
        summary = (f"completed={data.get('completed')}; lastStatusCode={data.get('lastStatusCode')}"
                   f" ({data.get('lastStatusDescription') or 'no status'})")
        return ItemResult(item.id, ACCEPTED, ids[-1], "", summary, response.status_code), data

    def outcomes(self, items: list[Item]) -> list[CallOutcome]:
        """``completed``, ``lastStatusCode``, ``lastStatusDescription`` and ``outcomeType`` of each lead."""
        found = []
        for item in items:
            result, data = self.get_lead(item)
            code = (data or {}).get("lastStatusCode")
            found.append(CallOutcome(item.id, error=result) if data is None else CallOutcome(
                item.id, completed=data["completed"] if isinstance(data.get("completed"), bool) else None,
                status_code="" if code is None else str(code)[:32],
                status_description=str(data.get("lastStatusDescription") or "")[:200],
                outcome_type=str(data.get("outcomeType") or "")[:32]))
        return found

    def _end_one(self, item: Item) -> ItemResult:
        """Stop the dialler calling a lead: DELETE it, or complete it (``end_contact_mode``)."""
        complete = self.setting("end_contact_mode", "delete") == "complete"
        try:
            ids = self._lead_ids(item)
        except VendorError as error:
            if not error.permanent or error.code == "unauthorized":
                raise          # the account's trouble: the rest of the call shares it
            return self.fail_all([item], error)[0]
        if not ids:
            return ItemResult(item.id, ACCEPTED, "", "not_found", "The vendor holds no lead with this customerKey.")
        for lead_id in ids:
            response = self.call("update_lead" if complete else "delete_lead", leadId=lead_id,
                                 json_body={"isCompleted": True} if complete else None)
            if response.status_code >= 300 and response.status_code != 404:
                return self.item_result(item, response, lead_id)
        gone = response.status_code == 404   # the last lead's answer
        return ItemResult(item.id, ACCEPTED, lead_id, "not_found" if gone else "",
                          "The vendor no longer holds this lead; nothing left to stop." if gone else "",
                          response.status_code)

    def _erase_one(self, item: Item, params: dict[str, str]) -> ItemResult:
        """Privacy erasure: ``DELETE customer?phoneNumber=&emailAddress=``."""
        response = self.call("erase_customer", params=params)
        if response.status_code >= 300:
            return self.item_result(item, response, item.remote_ref)
        body = self.json_or_none(response) or {}
        parts = [f"{k}: {flatten_errors(v) or 'none'}" for k, v in body.items()] if isinstance(body, dict) else []
        return ItemResult(item.id, ACCEPTED, item.remote_ref, "", "; ".join(parts)[:500], response.status_code)

    def check_connection(self) -> ConnectionReport:
        """GET the destination's list (checks key and listId), else the first page of lists."""
        error = self.setup_error(account_only=True)
        if error is not None:
            return ConnectionReport(False, f"{error.message} Nothing was sent.")
        endpoint, args = ("get_list", {"listId": self.remote_ref}) if self.remote_ref else ("list_lists", {})
        checked = f"{ENDPOINTS[endpoint][0]} {ENDPOINTS[endpoint][1].format(**args)}"
        try:
            response = self.call(endpoint, **args)
            body = self.body(response, "the check")
        except VendorError as error:
            return ConnectionReport(False, error.message, error.http_status, checked)
        message = (f"list {body.get('id', self.remote_ref)} is {body.get('name', '')!r}" if self.remote_ref else
                   f"the first page shows {len(body.get('items') or [])} list(s)")
        return ConnectionReport(True, f"Connected; {message}.", response.status_code, checked)
