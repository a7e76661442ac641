"""ipSCAPE "Platform API" client — implements seed ``001_ade25d08a29a4340`` ("Design for Platform API 0.0.1").

Operations: add one lead, bulk add (submit → poll → page through errors → learn
lead ids), get lead (outcomes), update lead, delete lead / complete lead
(``end_contact``), customer erase (``erase``), lists (list / create / get).

Points of this contract that are easy to get wrong
--------------------------------------------------
* **The seed gives almost no paths.** It names endpoints, bodies and responses,
  but the only paths it spells out are ``/platform-api/v3.0/media/5364`` (a
  ``mediaUri``) and ``/v3.0/leads/bulk/`` (in the bulk endpoints' prose). So the
  tenant root is ``https://<tenant host>/platform-api`` (the account's
  ``base_url``; there is no default) and every path is ``v3.0/<resource>``.
  All paths and methods live in :data:`ENDPOINTS` below so a real tenant can
  correct them in one place.
* **Auth** is the security scheme named ``authorization``: the ``Authorization``
  header carries the account's ``api_key`` *verbatim* (no scheme word is
  added; store ``"Bearer …"`` as the key if a tenant wants one).
* ``listId`` is **required** and an **integer** (the destination's
  ``remote_ref``); ``customerKey`` is a *string* (our key for the lead).
* ``leadData`` is an **object**, not a JSON string.
* ``isCompleted`` can only go to ``true``: a lead cannot be un-completed, so the
  client refuses ``isCompleted: false`` before sending anything.
* Bulk add is **asynchronous**: ``POST leads/bulk`` ``{leads: [...]}`` answers
  ``{uuid, status}``; the result is read by polling ``GET leads/bulk/{uuid}``,
  and failures come from ``GET leads/bulk/{uuid}/errors``, which is *paged*
  (``pageNo``, ``totalPages``, ``nextPageLink``) and whose ``errorList`` is an
  *object*. The seed does not say how an error names its row; this client maps
  an entry by its ``customerKey`` when it carries one that is unique in the
  batch, else by its key as the row's position in ``leads`` (0-based; the
  ``bulk_error_index_base`` setting changes that). Rows with no error are
  accepted.
* **A bulk is posted once.** Its ``uuid`` is tied to its leads (``fix_call_ref``,
  stored by the pipeline) the moment the vendor accepts it, since the leads exist
  from then on. When a poll or an errors page fails afterwards, the retry resumes
  that uuid (poll, then read the errors, by each lead's position in the original
  bulk) and never posts those leads again: ``check_existing`` is off by default
  and a tenant would import them twice.
  Until the vendor answers a post, its leads carry the ref ``posted:<random>``: a
  retry after a lost answer first looks each of them up by ``customerKey``
  (``GET leads?customerKey=&listId=``) and posts only those the vendor lacks.
* The bulk answer gives **no lead ids**. The seed's way to learn them is
  ``GET leads?listId=&uploadedTimestampFrom=`` (cursor-paged), matched on
  ``customerKey``; an id that cannot be learned leaves ``remote_ref`` empty and
  later operations find the lead by ``customerKey`` (``GET leads?customerKey=``).
* Lists and leads are **cursor-paged**: ``{metadata: {...}, items: [...]}``; the
  seed leaves ``metadata`` empty, so the next cursor is read from
  ``metadata.nextCursor`` (or ``next_cursor``/``next``).
* The seed gives **no error statuses or error bodies**. The client reads
  ``message``/``error`` and a Laravel-style ``errors: {field: [msg]}``; 400/422
  → ``invalid``, 404 → ``not_found``, 409 → ``duplicate`` (accepted, with the
  existing lead's id looked up by ``customerKey``).
* The seed gives **no bulk limit**; :attr:`PlatformClient.max_batch` is 500 (a
  conservative size for an async import whose errors we must page through).
* A ``nextPageLink`` is only followed on the account's own host: the API key is
  never sent anywhere else.
"""
from __future__ import annotations

import datetime as dt
import logging
import math
import time
import uuid as uuidlib
from typing import Any
from urllib.parse import urljoin, urlsplit

from campaigns.requirements import PHONE, Requirement

from .base import (
    ACCEPTED, REJECTED, RETRY, CallOutcome, ConnectionReport, DemoSetup, Item, ItemResult, VendorClient, VendorError,
    utc_stamp,
)

log = logging.getLogger(__name__)

# ---------------------------------------------------------------------------
# THE path table. Paths are relative to the account's base_url (the tenant root,
# e.g. "https://acme.ipscape.com/platform-api"). Derivation:
#   * root "/platform-api" and version "v3.0" come from the seed's mediaUri
#     "/platform-api/v3.0/media/5364" and its "/v3.0/leads/bulk/" endpoint prose;
#   * "leads/bulk", "leads/bulk/{uuid}", ".../errors": from that prose and the
#     endpoint names (bulk create, bulk status, error messages of the import);
#   * the rest are REST names of the seed's resources (leads, lists, customer)
#     with the path parameters the seed lists (leadId, listId, uuid); methods
#     follow the operation names (Create → POST, Update → PATCH, Delete → DELETE).
# A tenant whose API differs corrects this dict and nothing else.
# ---------------------------------------------------------------------------
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
    "create_list":  ("POST",   "v3.0/lists"),                       # {listName, campaignId}
    "get_list":     ("GET",    "v3.0/lists/{listId}"),
    "erase_customer": ("DELETE", "v3.0/customer"),                  # ?phoneNumber&emailAddress
}

BULK_DONE = {"completed", "complete", "done", "finished", "processed", "success", "succeeded",
             "completed_with_errors", "partial", "partially_completed"}
UNANSWERED = "posted:"          # call_ref of leads posted whose answer has not come (yet)
BULK_FAILED = {"failed", "failure", "error", "errored", "cancelled", "canceled", "aborted"}
DUPLICATE_WORDS = ("already exists", "already been taken", "duplicate")
MAX_LIST_PAGES = 1000           # bound on any cursor walk
MAX_SCAN_PAGES = 50             # bound on the walk that learns bulk lead ids
SCAN_MARGIN = dt.timedelta(minutes=2)  # clock skew allowance for uploadedTimestampFrom
_SCAN_RESUME: dict[tuple[str, int], dt.datetime] = {}  # (base URL, list) -> where the next id scan may start

# Lead attributes a destination may map into leadData / use as customerKey.
LEAD_FIELDS = ("id", "first_name", "last_name", "full_name", "email", "phone", "phone_alt", "address", "city",
               "region", "postal_code", "country", "timezone", "external_id", "source", "link", "consent_url",
               "consent_at", "scheduled_at", "created_at")
CUSTOMER_KEY_FIELDS = ("id", "external_id", "email", "phone")
DEFAULT_LEAD_DATA = {"firstName": "first_name", "lastName": "last_name", "email": "email", "address": "address",
                     "city": "city", "state": "region", "postcode": "postal_code", "country": "country"}

SETTINGS_HELP: dict[str, str] = {
    "lead_data_fields": "object {leadData key: lead field}; default maps name, email and address",
    "include_metadata": "true/false: copy the lead's metadata into leadData (default true)",
    "customer_key_field": f"which lead field is customerKey: one of {', '.join(CUSTOMER_KEY_FIELDS)} (default id)",
    "status_code": "integer statusCode for new leads (optional)",
    "agent_id": "integer agentId for new leads (optional)",
    "end_contact_mode": "\"delete\" (DELETE the lead, default) or \"complete\" (update isCompleted: true)",
    "check_existing": "true/false: look each lead up by customerKey before adding it (default false)",
    "bulk_poll_seconds": "number ≥ 0: pause between bulk status polls (default 2)",
    "bulk_max_polls": "integer ≥ 1: polls before giving up on a bulk import (default 60)",
    "bulk_error_index_base": "0 or 1: how the vendor numbers bulk rows in errorList keys (default 0)",
    "resolve_bulk_lead_ids": "true/false: learn leadIds of bulk-added leads via GET leads (default true)",
}


def _e164(value: Any) -> str:
    return str(value) if value else ""


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return utc_stamp(value)
    if hasattr(value, "as_e164"):
        return _e164(value)
    return str(value)


def vendor_message(body: Any, fallback: str = "") -> str:
    """The vendor's words from an error body: ``message`` plus ``errors`` flattened."""
    if isinstance(body, str):
        return body.strip()[:500] or fallback
    if not isinstance(body, dict):
        return fallback
    parts: list[str] = []
    for key in ("message", "error", "detail", "title"):
        if isinstance(body.get(key), str) and body[key].strip():
            parts.append(body[key].strip())
            break
    details = flatten_errors(body.get("errors"))
    if details:
        parts.append(details)
    return " — ".join(parts) or fallback


def flatten_errors(errors: Any) -> str:
    if not errors:
        return ""
    if isinstance(errors, str):
        return errors
    if isinstance(errors, list):
        return "; ".join(filter(None, (flatten_errors(e) for e in errors)))
    if isinstance(errors, dict):
        out = []
        for field, msgs in errors.items():
            text = flatten_errors(msgs)
            out.append(f"{field}: {text}" if text else str(field))
        return "; ".join(out)
    return str(errors)


class PlatformClient(VendorClient):
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
    SETTINGS = SETTINGS_HELP
    demo = DemoSetup("cover", path="/platform-api", credentials={"api_key": "demo-platform-key"}, remote_ref="100")
    sleep = staticmethod(time.sleep)      # tests may replace it

    @classmethod
    def lead_requirements(cls, settings: dict[str, Any]) -> list[Requirement]:
        """The seed requires only ``listId`` (the destination's); ``phone1`` is the number to dial, and
        ``customerKey`` (the field ``customer_key_field`` names) is how this client finds the lead again."""
        field = (settings or {}).get("customer_key_field", "id")
        if field not in CUSTOMER_KEY_FIELDS or field in ("id", "phone"):  # always there
            return [PHONE]
        return [PHONE, Requirement((field,), f"{field}, which this destination sends as customerKey (the key "
                                             "it finds the lead by)")]

    # ---- settings ------------------------------------------------------------
    @classmethod
    def validate_settings(cls, settings: dict[str, Any]) -> dict[str, str]:
        errors: dict[str, str] = {}
        if not isinstance(settings, dict):
            return {"settings": "must be a JSON object."}
        for key, value in settings.items():
            if key not in SETTINGS_HELP:
                errors[key] = (f"unknown setting for {cls.label}; known settings: {', '.join(SETTINGS_HELP)}.")
                continue
            problem = cls._setting_problem(key, value)
            if problem:
                errors[key] = f"{problem} Expected {SETTINGS_HELP[key]}."
        return errors

    @staticmethod
    def _setting_problem(key: str, value: Any) -> str:
        def is_int(v):
            return isinstance(v, int) and not isinstance(v, bool)

        if key == "lead_data_fields":
            if not isinstance(value, dict):
                return f"must be an object, not {type(value).__name__}."
            bad = [f"{k!r}→{v!r}" for k, v in value.items() if not isinstance(v, str) or v not in LEAD_FIELDS]
            if bad:
                return f"unknown lead field(s) {', '.join(bad)}; lead fields are {', '.join(LEAD_FIELDS)}."
            if any(not k for k in value):
                return "leadData keys must not be empty."
        elif key in ("include_metadata", "check_existing", "resolve_bulk_lead_ids"):
            if not isinstance(value, bool):
                return f"must be true or false, not {value!r}."
        elif key == "customer_key_field":
            if value not in CUSTOMER_KEY_FIELDS:
                return f"{value!r} is not allowed."
        elif key in ("status_code", "agent_id"):
            if not is_int(value):
                return f"must be an integer, not {value!r}."
        elif key == "end_contact_mode":
            if value not in ("delete", "complete"):
                return f"{value!r} is not allowed."
        elif key == "bulk_poll_seconds":
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0 or value > 300:
                return f"{value!r} is not a number of seconds between 0 and 300."
        elif key == "bulk_max_polls":
            if not is_int(value) or value < 1 or value > 10_000:
                return f"{value!r} is not an integer between 1 and 10000."
        elif key == "bulk_error_index_base":
            if value not in (0, 1) or isinstance(value, bool):
                return f"{value!r} is not 0 or 1."
        return ""

    def setting(self, key: str, default: Any) -> Any:
        value = self.settings.get(key, default)
        return default if self._setting_problem(key, value) else value

    # ---- HTTP plumbing -------------------------------------------------------
    def url(self, path: str) -> str:
        if path.startswith(("http://", "https://")):   # a vendor-given page link, already checked
            return path
        return super().url(path)

    def call(self, endpoint: str, *, params: dict | None = None, json_body: Any = None, **path_args):
        method, path = ENDPOINTS[endpoint]
        headers = {"Authorization": self.credentials.get("api_key", ""), "Accept": "application/json"}
        return self.send(method, path.format(**path_args), params=params, json_body=json_body, headers=headers)

    def call_url(self, url: str):
        headers = {"Authorization": self.credentials.get("api_key", ""), "Accept": "application/json"}
        return self.send("GET", url, headers=headers)

    def same_origin_link(self, link: str) -> str | None:
        """A vendor-given link as an absolute URL, or None when it leaves the account's host."""
        absolute = urljoin(self.base_url + "/", link)
        ours, theirs = urlsplit(self.base_url), urlsplit(absolute)
        if (ours.scheme, ours.netloc) != (theirs.scheme, theirs.netloc):
            return None
        return absolute

    def failure(self, response, what: str) -> VendorError:
        """A 4xx answer to a non-item call (lists, lookups) as a permanent VendorError."""
        status = response.status_code
        message = self.redact(vendor_message(self.json_or_none(response) or response.text,
                                             f"HTTP {status}"))
        code = "not_found" if status == 404 else "invalid"
        return VendorError(f"{self.label} refused {what}: {message}", permanent=True, http_status=status,
                           code=code, body=self.redact(response.text[:500]))

    def item_result(self, item: Item, response, *, remote_ref: str = "") -> ItemResult:
        """Map a non-2xx answer about one item to its result."""
        status = response.status_code
        message = self.redact(vendor_message(self.json_or_none(response) or response.text, f"HTTP {status}"))
        if status == 404:
            return ItemResult(item.id, REJECTED, remote_ref, "not_found", message, status)
        if status == 409:
            return ItemResult(item.id, ACCEPTED, remote_ref, "duplicate", message, status)
        return ItemResult(item.id, REJECTED, remote_ref, "invalid", message, status)

    # ---- payload ------------------------------------------------------------
    def list_id(self) -> int:
        try:
            return int(str(self.remote_ref).strip())
        except ValueError:
            raise VendorError(f"The destination's list id {self.remote_ref!r} is not an integer listId; "
                              "set the destination's remote ref to the ipSCAPE list id.",
                              permanent=True, code="invalid") from None

    def customer_key(self, item: Item) -> str:
        field = self.setting("customer_key_field", "id")
        return _text(getattr(item.lead, field, "")).strip()

    def lead_payload(self, item: Item, list_id: int | None) -> dict[str, Any]:
        """The one function mapping a Lead to the seed's RequestCreateLead body."""
        lead = item.lead
        payload: dict[str, Any] = {}
        if list_id is not None:
            payload["listId"] = list_id
        payload["customerKey"] = self.customer_key(item)
        if lead.timezone:
            payload["timezone"] = lead.timezone
        payload["phone1"] = _e164(lead.phone)
        if lead.phone_alt:
            payload["phone2"] = _e164(lead.phone_alt)
        if item.contact_at:
            payload["nextAttemptTimestamp"] = utc_stamp(item.contact_at)
        data: dict[str, Any] = {}
        if self.setting("include_metadata", True) and isinstance(lead.metadata, dict):
            data.update(lead.metadata)
        for key, field in self.setting("lead_data_fields", DEFAULT_LEAD_DATA).items():
            value = _text(getattr(lead, field, ""))
            if value:
                data[key] = value
        payload["leadData"] = data
        for setting, field in (("status_code", "statusCode"), ("agent_id", "agentId")):
            if self.settings.get(setting) is not None:
                payload[field] = self.setting(setting, None)
        return payload

    # ---- push -------------------------------------------------------------------
    def push(self, items: list[Item]) -> list[ItemResult]:
        if not items:
            return []
        try:
            list_id = self.list_id()
        except VendorError as error:
            return self.fail_all(items, error)
        results: dict[int, ItemResult] = {}
        todo: list[Item] = []
        for item in items:
            if not self.customer_key(item):
                results[item.id] = ItemResult(item.id, REJECTED, code="invalid", message=(
                    f"The lead has no {self.setting('customer_key_field', 'id')} to use as customerKey."))
            elif not item.lead.phone:
                results[item.id] = ItemResult(item.id, REJECTED, code="invalid", message="The lead has no phone number.")
            else:
                todo.append(item)
        submitted: dict[str, list[Item]] = {}
        for item in todo:
            if item.call_ref and not item.call_ref.startswith(UNANSWERED):   # in a bulk accepted earlier
                submitted.setdefault(item.call_ref, []).append(item)
        for uuid, unit in submitted.items():
            for result in self._bulk_results(uuid, unit, list_id, None):
                results[result.item_id] = result
        unanswered = [i for i in todo if i.call_ref.startswith(UNANSWERED)]
        todo = [i for i in todo if not i.call_ref]
        if todo and self.setting("check_existing", False):
            todo = self._skip_existing(todo, list_id, results)
        if unanswered:   # posted before, the answer never came: the vendor may hold them
            todo += self._skip_existing(unanswered, list_id, results)
        if todo:
            self.fix_call_ref(todo, UNANSWERED + uuidlib.uuid4().hex)
        if len(todo) == 1:
            results[todo[0].id] = self._add_one(todo[0], list_id)
        elif todo:
            for start in range(0, len(todo), self.max_batch):
                chunk = todo[start:start + self.max_batch]
                for result in self._add_bulk(chunk, list_id):
                    results[result.item_id] = result
        return [results[item.id] for item in items]

    def _skip_existing(self, items: list[Item], list_id: int, results: dict[int, ItemResult]) -> list[Item]:
        remaining = []
        for n, item in enumerate(items):
            try:
                found = self.find_leads(self.customer_key(item), list_id)
            except VendorError as error:
                if error.permanent:
                    remaining.extend(items[n:])   # cannot check; add as usual
                else:
                    for rest in items[n:]:
                        results[rest.id] = self.fail_all([rest], error)[0]
                return remaining
            if found:
                results[item.id] = ItemResult(item.id, ACCEPTED, str(found[0].get("leadId", "")), "duplicate",
                                              "The vendor already holds a lead with this customerKey in the list.")
            else:
                remaining.append(item)
        return remaining

    def _add_one(self, item: Item, list_id: int) -> ItemResult:
        try:
            response = self.call("create_lead", json_body=self.lead_payload(item, list_id))
            if response.status_code == 409:
                result = self.item_result(item, response)
                result.remote_ref = self._lookup_id(self.customer_key(item), list_id)
                return result
            if response.status_code >= 300:
                return self.item_result(item, response)
        except VendorError as error:
            return self.fail_all([item], error)[0]
        body = self.json_or_none(response) or {}
        lead_id = body.get("leadId") if isinstance(body, dict) else None
        message = "" if not isinstance(body, dict) or body.get("inDialler", True) else "Added; the list is not in the dialler."
        return ItemResult(item.id, ACCEPTED, "" if lead_id is None else str(lead_id), "", message,
                          response.status_code)

    def _add_bulk(self, items: list[Item], list_id: int) -> list[ItemResult]:
        started = dt.datetime.now(dt.timezone.utc)
        try:
            response = self.call("bulk_create", json_body={"leads": [self.lead_payload(i, list_id) for i in items]})
        except VendorError as error:
            return self.fail_all(items, error)
        if response.status_code >= 300:
            return [self.item_result(item, response) for item in items]
        body = self.json_or_none(response) or {}
        uuid = str(body.get("uuid") or "") if isinstance(body, dict) else ""
        if not uuid:
            return self.fail_all(items, VendorError(
                f"{self.label} accepted the bulk import but gave no uuid: {self.redact(response.text[:200])}",
                permanent=False, code="vendor_unavailable", http_status=response.status_code))
        self.fix_call_ref(items, uuid)      # the leads exist at the vendor now: never post them again
        posted_in = self.last_exchange()
        results = self._bulk_results(uuid, items, list_id, started, str(body.get("status") or ""))
        for result in results:
            result.sent_in = posted_in
        return results

    def _bulk_results(self, uuid: str, items: list[Item], list_id: int, started: dt.datetime | None,
                      status: str = "") -> list[ItemResult]:
        """Poll bulk ``uuid`` to its end and read its errors: one result per item. ``items``
        may be what is left of the bulk (a resumed one), each at its ``call_index``."""
        status, error = self._poll(uuid, status)
        polled_in = self.last_exchange()
        if error is not None:
            return self.fail_all(items, error)
        pages: dict[int, int] = {}           # position -> the errors page (exchange) that named it
        errors = self._bulk_errors(uuid, items, pages)
        if errors is None:        # could not read the errors: we cannot tell who failed
            return self.fail_all(items, VendorError(
                f"Could not read the errors of bulk import {uuid}.", permanent=False, code="vendor_unavailable"))

        failed_job = status in BULK_FAILED
        results: list[ItemResult] = []
        need_ids: dict[str, list[int]] = {}
        for n, item in enumerate(items):
            message = errors.get(item.call_index if item.call_index is not None else n)
            if message is not None:
                if any(w in message.lower() for w in DUPLICATE_WORDS):
                    results.append(ItemResult(item.id, ACCEPTED, "", "duplicate", message))
                    need_ids.setdefault(self.customer_key(item), []).append(n)
                else:
                    results.append(ItemResult(item.id, REJECTED, "", "invalid", message))
            elif failed_job:
                results.append(ItemResult(item.id, RETRY, "", "vendor_unavailable",
                                          f"Bulk import {uuid} ended {status!r} without an error for this lead."))
            else:
                results.append(ItemResult(item.id, ACCEPTED))
                need_ids.setdefault(self.customer_key(item), []).append(n)
        if need_ids and self.setting("resolve_bulk_lead_ids", True):
            since = (started or dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=1)) - SCAN_MARGIN
            found = self._scan_ids(list_id, set(need_ids), since)
            for key, positions in need_ids.items():
                lead_id = found.get(key)
                if lead_id is None and any(results[p].code == "duplicate" for p in positions):
                    lead_id = self._lookup_id(key, list_id) or None
                for p in positions:
                    if lead_id is not None:
                        results[p].remote_ref = str(lead_id)
        for n, (item, result) in enumerate(zip(items, results)):
            result.decided_by = pages.get(item.call_index if item.call_index is not None else n, polled_in)
        if failed_job:    # the vendor says the import failed: the retry is a new bulk
            self.fix_call_ref([i for i, r in zip(items, results) if r.status == RETRY], "")
        accepted = sum(r.status == ACCEPTED for r in results)
        log.info("platform bulk %s: %d accepted, %d not", uuid, accepted, len(results) - accepted)
        return results

    def _poll(self, uuid: str, status: str) -> tuple[str, VendorError | None]:
        polls = int(self.setting("bulk_max_polls", 60))
        pause = float(self.setting("bulk_poll_seconds", 2))
        last_error: VendorError | None = None
        for n in range(polls):
            if pause and n:
                self.sleep(pause)
            try:
                response = self.call("bulk_status", uuid=uuid)
            except VendorError as error:
                if error.permanent:
                    return "", error
                last_error = error
                continue
            if response.status_code >= 300:
                return "", self.failure(response, f"the status of bulk import {uuid}")
            body = self.json_or_none(response) or {}
            status = str(body.get("status") or "").lower() if isinstance(body, dict) else ""
            if status in BULK_DONE or status in BULK_FAILED:
                return status, None
        detail = f" (last error: {last_error.message})" if last_error else ""
        return "", VendorError(f"Bulk import {uuid} was still {status or 'unfinished'!r} after {polls} polls{detail}; "
                               "its leads may appear at the vendor later.", permanent=False, code="timeout",
                               retry_after=last_error.retry_after if last_error else None)

    def _bulk_errors(self, uuid: str, items: list[Item], pages: dict[int, int] | None = None) -> dict[int, str] | None:
        """{position in the bulk as posted: vendor message} from every page of the errors;
        ``pages`` gets {position: the exchange (page) that named it}."""
        pages = {} if pages is None else pages
        keys: dict[str, list[int]] = {}
        for n, item in enumerate(items):
            keys.setdefault(self.customer_key(item), []).append(item.call_index if item.call_index is not None else n)
        size = max([len(items)] + [i.call_size or 0 for i in items])   # the bulk as posted
        base = int(self.setting("bulk_error_index_base", 0))
        out: dict[int, str] = {}
        max_pages = max(3, math.ceil(size / 5) + 2)
        target: str | None = None
        page_no = first_page = None
        uses_links = False
        for _ in range(max_pages):
            try:
                if target:
                    response = self.call_url(target)
                else:
                    params = {"pageNo": page_no} if page_no is not None else None
                    response = self.call("bulk_errors", uuid=uuid, params=params)
            except VendorError:
                return None
            if response.status_code == 404:
                return out            # no errors recorded for this import
            if response.status_code >= 300:
                return None
            body = self.json_or_none(response)
            if not isinstance(body, dict):
                return None
            for key, entry in self._error_entries(body.get("errorList")):
                position = self._error_position(key, entry, keys, base, size)
                message = self.redact(self._entry_message(entry)) or "Rejected by the vendor (no reason given)."
                if position is None:
                    log.warning("platform bulk %s: an error could not be matched to a lead: %s", uuid, message[:200])
                    continue
                out[position] = f"{out[position]}; {message}" if position in out else message
                pages[position] = self.last_exchange()
            number, total = body.get("pageNo"), body.get("totalPages")
            if first_page is None and isinstance(number, int):
                first_page = number
            link = body.get("nextPageLink")
            if "nextPageLink" in body:
                uses_links = True
            if isinstance(link, str) and link.strip():
                target = self.same_origin_link(link.strip())
                if target is None:
                    log.warning("platform bulk %s: not following a nextPageLink to another host", uuid)
                    return out
                continue
            # no link: only a vendor that never sends nextPageLink is paged by pageNo
            if not uses_links and isinstance(number, int) and isinstance(total, int) and first_page is not None:
                if number - first_page + 1 < total:      # works for 0- and 1-based page numbers
                    page_no, target = number + 1, None
                    continue
            return out
        return out

    @staticmethod
    def _error_entries(error_list: Any):
        if isinstance(error_list, dict):
            yield from error_list.items()
        elif isinstance(error_list, list):
            for n, entry in enumerate(error_list):
                key = None
                if isinstance(entry, dict):
                    for name in ("index", "row", "position", "line"):
                        if name in entry:
                            key = entry[name]
                            break
                yield (key if key is not None else ("#", n)), entry

    @staticmethod
    def _entry_message(entry: Any) -> str:
        if isinstance(entry, dict):
            return vendor_message(entry) or flatten_errors({k: v for k, v in entry.items()
                                                            if k not in ("customerKey", "index", "row")})
        return flatten_errors(entry)

    @staticmethod
    def _error_position(key: Any, entry: Any, keys: dict[str, list[int]], base: int, size: int) -> int | None:
        if isinstance(entry, dict) and entry.get("customerKey") is not None:
            positions = keys.get(str(entry["customerKey"]))
            if positions and len(positions) == 1:
                return positions[0]
        if isinstance(key, tuple):
            return None
        try:
            position = int(key) - base
        except (TypeError, ValueError):
            positions = keys.get(str(key))          # an errorList keyed by customerKey
            return positions[0] if positions and len(positions) == 1 else None
        return position if 0 <= position < size else None

    def _scan_ids(self, list_id: int, wanted: set[str], since: dt.datetime) -> dict[str, Any]:
        """customerKey → leadId for leads uploaded to the list since ``since`` (newest wins).

        Batches sent one after another into one list would each re-read every lead
        of the last minutes; the scan starts instead where this process's previous
        scan of the list ended (the vendor's newest upload time, minus a second).
        """
        mark = (self.base_url, list_id)
        resume = _SCAN_RESUME.get(mark)
        if resume is not None and resume > since:
            since = resume
        found: dict[str, Any] = {}
        newest = None
        try:
            for lead in self._walk("list_leads", {"listId": list_id, "uploadedTimestampFrom": utc_stamp(since)},
                                   max_pages=MAX_SCAN_PAGES):
                key = str(lead.get("customerKey") or "")
                if key in wanted and lead.get("leadId") is not None:
                    found[key] = lead["leadId"]
                uploaded = (lead.get("timestamps") or {}).get("uploaded") if isinstance(lead.get("timestamps"), dict) else None
                if isinstance(uploaded, str):
                    newest = max(newest or uploaded, uploaded)
        except VendorError as error:
            log.info("platform: could not learn bulk lead ids (%s)", error.code)
        if newest and len(found) == len(wanted):
            try:
                _SCAN_RESUME[mark] = dt.datetime.fromisoformat(newest.replace("Z", "+00:00")) - dt.timedelta(seconds=1)
            except ValueError:
                pass
        return found

    # ---- lookups ----------------------------------------------------------------
    def _walk(self, endpoint: str, params: dict, *, max_pages: int = MAX_LIST_PAGES):
        """Every item of a cursor-paged collection ({metadata, items})."""
        cursor = None
        for _ in range(max_pages):
            query = dict(params)
            if cursor:
                query["cursor"] = cursor
            response = self.call(endpoint, params=query or None)
            if response.status_code >= 300:
                raise self.failure(response, f"the {endpoint.replace('_', ' ')} request")
            body = self.json_or_none(response) or {}
            items = body.get("items") if isinstance(body, dict) else None
            yield from (i for i in (items or []) if isinstance(i, dict))
            meta = body.get("metadata") if isinstance(body, dict) else None
            meta = meta if isinstance(meta, dict) else {}
            nxt = meta.get("nextCursor") or meta.get("next_cursor") or meta.get("next")
            if not nxt or nxt == cursor or not items:
                return
            cursor = str(nxt)

    def find_leads(self, customer_key: str, list_id: int | None = None) -> list[dict]:
        params: dict[str, Any] = {"customerKey": customer_key}
        if list_id is not None:
            params["listId"] = list_id
        return [lead for lead in self._walk("list_leads", params, max_pages=5)
                if str(lead.get("customerKey", customer_key)) == customer_key]

    def _lookup_id(self, customer_key: str, list_id: int) -> str:
        try:
            found = self.find_leads(customer_key, list_id)
        except VendorError:
            return ""
        return str(found[-1].get("leadId", "")) if found else ""

    def _lead_ids(self, item: Item) -> list[str] | ItemResult:
        """The vendor ids of an item: its remote_ref, else looked up by customerKey."""
        if item.remote_ref:
            return [item.remote_ref]
        try:
            list_id = self.list_id()
            found = self.find_leads(self.customer_key(item), list_id)
        except VendorError as error:
            return self.fail_all([item], error)[0]
        return [str(lead["leadId"]) for lead in found if lead.get("leadId") is not None]

    # ---- get / update / end contact / erase -------------------------------------
    def get_lead(self, item: Item) -> tuple[ItemResult, dict | None]:
        """The vendor's record of a lead (completed, lastStatusCode, outcomesInfo…)."""
        ids = self._lead_ids(item)
        if isinstance(ids, ItemResult):
            return ids, None
        if not ids:
            return ItemResult(item.id, REJECTED, code="not_found", message="The vendor holds no lead with this customerKey."), None
        try:
            response = self.call("get_lead", leadId=ids[-1])
        except VendorError as error:
            return self.fail_all([item], error)[0], None
        if response.status_code >= 300:
            return self.item_result(item, response, remote_ref=ids[-1]), None
        data = self.json_or_none(response)
        data = data if isinstance(data, dict) else {}
        summary = (f"completed={data.get('completed')}; lastStatusCode={data.get('lastStatusCode')}"
                   f" ({data.get('lastStatusDescription') or 'no status'})")
        return ItemResult(item.id, ACCEPTED, ids[-1], "", summary, response.status_code), data

    def outcomes(self, items: list[Item]) -> list[CallOutcome]:
        """Lead details (GET v3.0/leads/{leadId}): ``completed``, ``lastStatusCode``,
        ``lastStatusDescription`` and ``outcomeType``, one request per lead."""
        found = []
        for item in items:
            result, data = self.get_lead(item)
            if data is None:
                found.append(CallOutcome(item.id, error=result))
                continue
            code = data.get("lastStatusCode")
            found.append(CallOutcome(
                item.id, completed=data["completed"] if isinstance(data.get("completed"), bool) else None,
                status_code="" if code is None else str(code)[:32],
                status_description=str(data.get("lastStatusDescription") or "")[:200],
                outcome_type=str(data.get("outcomeType") or "")[:32]))
        return found

    def update(self, items: list[Item], changes: dict[str, Any] | None = None, *,
               from_lead: bool = True) -> list[ItemResult]:
        """Update leads at the vendor: the mapped lead fields (unless ``from_lead`` is
        false), then ``changes`` on top (e.g. ``{"isCompleted": True}``)."""
        changes = dict(changes or {})
        results = []
        for n, item in enumerate(items):
            if "isCompleted" in changes and changes["isCompleted"] is not True:
                results.append(ItemResult(item.id, REJECTED, item.remote_ref, "invalid",
                                          "isCompleted can only be set to true: a completed lead cannot be reopened."))
                continue
            body = {**self.lead_payload(item, None), **changes} if from_lead else changes
            result = self._per_lead(item, "update_lead", body)
            results.append(result)
            if result.status == RETRY or result.code == "unauthorized":
                results.extend(self._same_failure(items[n + 1:], result))
                break
        return results

    def end_contact(self, items: list[Item]) -> list[ItemResult]:
        """Stop the dialler calling these leads: DELETE them, or complete them when
        the destination's ``end_contact_mode`` is ``complete``."""
        complete = self.setting("end_contact_mode", "delete") == "complete"
        results = []
        for n, item in enumerate(items):
            if complete:
                result = self._per_lead(item, "update_lead", {"isCompleted": True}, gone_ok=True)
            else:
                result = self._per_lead(item, "delete_lead", None, gone_ok=True)
            results.append(result)
            if result.status == RETRY or result.code == "unauthorized":
                results.extend(self._same_failure(items[n + 1:], result))
                break
        return results

    @staticmethod
    def _same_failure(items: list[Item], result: ItemResult) -> list[ItemResult]:
        return [ItemResult(i.id, result.status, i.remote_ref, result.code, result.message, result.http_status,
                           result.retry_after) for i in items]

    def _per_lead(self, item: Item, endpoint: str, body: dict | None, *, gone_ok: bool = False) -> ItemResult:
        ids = self._lead_ids(item)
        if isinstance(ids, ItemResult):
            return ids
        if not ids:
            status = ACCEPTED if gone_ok else REJECTED
            return ItemResult(item.id, status, "", "not_found", "The vendor holds no lead with this customerKey.")
        last: ItemResult | None = None
        for lead_id in ids:
            try:
                response = self.call(endpoint, leadId=lead_id, json_body=body)
            except VendorError as error:
                return ItemResult(item.id, RETRY if not error.permanent else REJECTED, lead_id, error.code,
                                  error.message, error.http_status, error.retry_after)
            if response.status_code == 404 and gone_ok:
                last = ItemResult(item.id, ACCEPTED, lead_id, "not_found",
                                  "The vendor no longer holds this lead; nothing left to stop.", 404)
            elif response.status_code >= 300:
                return self.item_result(item, response, remote_ref=lead_id)
            else:
                last = ItemResult(item.id, ACCEPTED, lead_id, "", "", response.status_code)
        return last

    def erase(self, items: list[Item]) -> list[ItemResult]:
        """Privacy erasure: ``DELETE customer?phoneNumber=&emailAddress=`` per lead."""
        results = []
        for n, item in enumerate(items):
            params = {}
            if item.lead.phone:
                params["phoneNumber"] = _e164(item.lead.phone)
            if item.lead.email:
                params["emailAddress"] = item.lead.email
            if not params:
                results.append(ItemResult(item.id, REJECTED, item.remote_ref, "invalid",
                                          "The lead has neither a phone number nor an email address to erase."))
                continue
            try:
                response = self.call("erase_customer", params=params)
            except VendorError as error:
                results.append(self.fail_all([item], error)[0])
                results.extend(self._same_failure(items[n + 1:], results[-1]))
                break
            if response.status_code >= 300:
                results.append(self.item_result(item, response, remote_ref=item.remote_ref))
                continue
            body = self.json_or_none(response) or {}
            parts = [f"{k}: {flatten_errors(v) or 'none'}" for k, v in body.items()] if isinstance(body, dict) else []
            results.append(ItemResult(item.id, ACCEPTED, item.remote_ref, "", "; ".join(parts)[:500],
                                      response.status_code))
        return results

    # ---- lists --------------------------------------------------------------------
    def list_lists(self, campaign_id: int | None = None) -> list[dict]:
        params = {"campaignId": campaign_id} if campaign_id is not None else {}
        return list(self._walk("list_lists", params))

    def create_list(self, name: str, campaign_id: int) -> dict:
        response = self.call("create_list", json_body={"listName": name, "campaignId": campaign_id})
        if response.status_code >= 300:
            raise self.failure(response, "the new list")
        return self.json_or_none(response) or {}

    def get_list(self, list_id: int | str) -> dict:
        response = self.call("get_list", listId=list_id)
        if response.status_code >= 300:
            raise self.failure(response, f"list {list_id}")
        return self.json_or_none(response) or {}

    # ---- connection check ------------------------------------------------------------
    def check_connection(self) -> ConnectionReport:
        """GET the destination's list (checks key and listId), else the first page of lists."""
        if not self.base_url:
            return ConnectionReport(False, f"{self.label} has no default address: set the account's base URL "
                                           "to the tenant's API root (e.g. https://<tenant>/platform-api).")
        if self.remote_ref:
            endpoint, args = "get_list", {"listId": self.remote_ref}
        else:
            endpoint, args = "list_lists", {}
        checked = f"{ENDPOINTS[endpoint][0]} {ENDPOINTS[endpoint][1].format(**args)}"
        try:
            response = self.call(endpoint, **args)
        except VendorError as error:
            return ConnectionReport(False, error.message, error.http_status, checked)
        if response.status_code >= 300:
            error = self.failure(response, "the check")
            return ConnectionReport(False, error.message, response.status_code, checked)
        body = self.json_or_none(response) or {}
        if endpoint == "get_list":
            message = f"Connected; list {body.get('id', self.remote_ref)} is {body.get('name', '')!r}."
        else:
            message = f"Connected; the first page shows {len(body.get('items') or [])} list(s)."
        return ConnectionReport(True, message, response.status_code, checked)
