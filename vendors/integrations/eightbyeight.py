"""8x8 Contact Center Dynamic Campaigns — implements seeds/003_49fa9a8e5576b093.txt (OpenAPI 3.0).

Operations used by LeadHub (paths follow the account's base URL, which ends in
``/api/tstats/campaigns`` on the tenant's regional server):

    push                 POST   /{campaign-id}/customers                [{customer-id, schedule-date-time}] → 207
    end_contact          DELETE /{campaign-id}/customers/{customer-id}  → 204 | 400 | 404
    set_campaign_status  PATCH  /{campaign-id}                          {status} → 200 | 400 | 404

Points of the contract that are easy to get wrong:

- Auth is HTTP Basic with the **tenant id** as user name and the **CC action
  token** as password (credentials ``{"tenant_id", "token"}``).
- The base URL is per account: every region (NA1…NA40, EU2…EU12, AU1, AP1,
  CA1/CA2, BC2) is a separate server, and the seed's server URLs already end in
  ``/api/tstats/campaigns``. There is no sensible default, so an account without
  a base URL fails before sending anything. ``destination.remote_ref`` is the
  campaign id.
- ``customer-id`` is the record's account number (``ACCOUNTNUM``) in the 8x8
  *Local CRM*. This API cannot create that record, it only queues an existing
  one. It comes from ``lead.external_id`` or from the field named by the
  setting ``customer_id_field`` (``"external_id"``, ``"id"`` or
  ``"metadata.<key>"``). ``lead_requirements`` declares it (all digits: the
  seed's ``format: int32``), so intake refuses a lead without one, or by the
  campaign's policy does not route it here; one that got in before is rejected
  before any request with code ``missing_customer_id``, or ``invalid`` when it
  is not all digits. It is sent as a JSON *string*: the
  schema's type is ``string`` (with ``maximum: 1e22``, beyond a 64-bit integer),
  although the examples show bare numbers.
- ``schedule-date-time`` is ISO 8601 in UTC with milliseconds, exactly like the
  seed's examples: ``2016-08-29T09:00:00.000Z``. It is sent only when
  ``item.contact_at`` lies in the future; for "now" it is *left out* (the seed
  marks it optional) instead of sending our clock's "now", which the vendor may
  already consider "in the past" when it arrives.
- At most **7 days ahead**: a later ``contact_at`` is rejected before sending,
  code ``schedule_too_far_ahead``. We do not clamp: clamping would call the lead
  earlier than it asked (``scheduled_at`` means "not before").
- The 207 answer has an ``http-status`` (integer or string: the schema says
  string, the examples integers) and a ``message`` per customer, in request
  order. They map to: 2xx → accepted (remote_ref = customer-id); "Duplicate
  customer" → accepted, code ``duplicate`` (already queued); "Invalid
  schedule-date-time format" / "Invalid customer-id" → rejected ``invalid``;
  404 → rejected ``not_found`` (no such Local CRM record); "in the past" →
  retry ``schedule_in_past`` (the next attempt sends without a time);
  "outside the campaign schedule" → rejected ``outside_schedule``; "within 7
  days" → rejected ``schedule_too_far_ahead``.
- A whole-call 400 means the *campaign* refuses: stopped, not started ("new"),
  not dynamic, not enabled → every item rejected with code
  ``campaign_not_running`` and the vendor's message; "The provided customer list
  is invalid." → code ``invalid``. A whole-call 5xx/429/timeout → retry.
- No batch limit per request is given (only "a maximum of 5 million records"
  scheduled for upload); we send at most ``max_batch = 100`` per call to keep
  each 207 answer and each retry small.
- DELETE: 204 deleted; 404 "not located" → accepted, code ``not_found``
  (nothing left to stop); 400 (campaign stopped / not dynamic / not enabled, or
  the customer was already offered to an agent) → rejected with the message.
- Every call changes something (add, delete, status); there is no read-only
  call, so ``check_connection`` only checks the configuration and sends nothing.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from campaigns.requirements import PHONE, Requirement

from .base import ACCEPTED, REJECTED, RETRY, DemoSetup, Item, ItemResult, Unsendable, VendorClient, VendorError
from .batching import entries_for

MAX_SCHEDULE_AHEAD = dt.timedelta(days=7)
CAMPAIGN_STATUSES = ("RUNNING", "STOPPED", "PAUSED", "PURGED")
CUSTOMER_ID_LEAD_FIELDS = ("external_id", "id")
# Whole-call 400 messages that mean "the campaign does not take customers now".
CAMPAIGN_REFUSALS = ("has stopped", "has not started", "not a dynamic campaign", "not enabled")
# words of a customer's 4xx entry in the 207 answer -> its result
SCHEDULE_ANSWERS = (("in the past", (RETRY, "schedule_in_past")), ("outside the campaign schedule",
                    (REJECTED, "outside_schedule")), ("7 days", (REJECTED, "schedule_too_far_ahead")))


def refusal_code(message: str) -> str:
    """A 400's code: ``campaign_not_running`` when the campaign takes no customers now, else ``invalid``."""
    return "campaign_not_running" if any(word in message.lower() for word in CAMPAIGN_REFUSALS) else "invalid"


def schedule_text(when: dt.datetime) -> str:
    """``2016-08-29T09:00:00.000Z``: UTC, milliseconds, ``Z`` — the seed's only format."""
    if when.tzinfo is None:  # Django stores UTC; a naive value is taken as UTC
        when = when.replace(tzinfo=dt.timezone.utc)
    when = when.astimezone(dt.timezone.utc)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def customer_id_field(settings: dict[str, Any]) -> str:
    field = (settings or {}).get("customer_id_field")
    return field if isinstance(field, str) and field else "external_id"


def customer_id_field_error(field: Any) -> str:
    if not isinstance(field, str):
        return "Must be text such as \"external_id\" or \"metadata.account_no\"."
    if field.startswith("metadata."):
        return "" if field[len("metadata."):].strip() else \
            "Name the metadata key after \"metadata.\", e.g. \"metadata.account_no\"."
    if field not in CUSTOMER_ID_LEAD_FIELDS:
        return f"{field!r} is not usable as the 8x8 account number; use \"external_id\", \"id\" or \"metadata.<key>\"."
    return ""


def customer_id_for(lead, settings: dict[str, Any]) -> str:
    """The 8x8 Local CRM account number of ``lead`` ("" when it has none)."""
    field = customer_id_field(settings)
    if field.startswith("metadata."):
        value = (lead.metadata or {}).get(field[len("metadata."):])
    else:
        value = getattr(lead, field, None)
    if value is None:
        return ""
    return str(value).strip()


def customer_item(item: Item, settings: dict[str, Any], now: dt.datetime) -> dict[str, str]:
    """The one mapping from a lead to an 8x8 ``CustomerItem``."""
    customer_id = item.remote_ref or customer_id_for(item.lead, settings)
    field = settings.get("customer_id_field") or "external_id"
    if not customer_id:
        raise Unsendable("missing_customer_id",
                         f"The lead has no 8x8 Local CRM account number (looked in {field}); 8x8 can only "
                         "queue customers that already exist in its Local CRM.")
    if not customer_id.isdigit():
        raise Unsendable("invalid", f"8x8 customer-id must be the numeric Local CRM account number; "
                                    f"{field} is {customer_id!r}.")
    body = {"customer-id": customer_id}
    when = item.contact_at
    if when is not None:
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.timezone.utc)
        if when - now > MAX_SCHEDULE_AHEAD:
            raise Unsendable("schedule_too_far_ahead",
                             f"8x8 accepts a schedule-date-time at most 7 days ahead; this lead is due "
                             f"{schedule_text(when)}. Push it again within 7 days of that time.")
        if when > now:
            body["schedule-date-time"] = schedule_text(when)
    return body


def item_result(item: Item, answer: dict[str, Any], customer_id: str) -> ItemResult:
    """One entry of the 207 answer as an ItemResult."""
    try:
        status = int(str(answer.get("http-status")))
    except (TypeError, ValueError):
        status = None
    message = str(answer.get("message") or "")
    lowered = message.lower()
    if status is not None and 200 <= status < 300:
        return ItemResult(item.id, ACCEPTED, remote_ref=customer_id, message=message, http_status=status)
    if "duplicate" in lowered:
        return ItemResult(item.id, ACCEPTED, remote_ref=customer_id, code="duplicate", message=message,
                          http_status=status)
    if status == 404:
        return ItemResult(item.id, REJECTED, code="not_found", message=message, http_status=status)
    if status == 429:
        return ItemResult(item.id, RETRY, code="rate_limited", message=message, http_status=status)
    if status is None or status >= 500:
        return ItemResult(item.id, RETRY, code="vendor_unavailable",
                          message=message or "8x8 gave no status for this customer.", http_status=status)
    # invalid date format, invalid customer-id, anything new: invalid
    result, code = next((found for words, found in SCHEDULE_ANSWERS if words in lowered), (REJECTED, "invalid"))
    return ItemResult(item.id, result, code=code, message=message, http_status=status)


@dataclass
class CampaignStatusResult:
    campaign_id: str
    status: str
    http_status: int
    message: str = ""


class EightByEightClient(VendorClient):
    kind = "eightbyeight"
    label = "8x8 Dynamic Campaigns"
    seed = "003_49fa9a8e5576b093.txt"
    operations = ("push", "end_contact")
    max_batch = 100                      # the seed sets no per-call limit; see the module docstring
    schedules_calls = True               # the calling window / start time travels with the lead
    required_credentials = ("tenant_id", "token")
    remote_ref_label = "8x8 campaign id"
    needs_remote_ref = True
    default_base_url = ""                # regional servers: always per account
    base_url_help = ("the account's regional server, ending in /api/tstats/campaigns (no default), e.g. "
                     "https://vcc-na1.8x8.com/api/tstats/campaigns")
    # a LeadHub campaign's status, mirrored at the vendor (set_campaign_status)
    campaign_statuses = {"active": "RUNNING", "paused": "PAUSED", "archived": "STOPPED", "draft": "PAUSED"}
    unchecked = ("8x8 Dynamic Campaigns has only calls that change a campaign (add or delete customers, change its "
                 "status), so nothing was sent. The credentials are checked by the first push.")
    demo = DemoSetup("solar", path="/api/tstats/campaigns", remote_ref="1001", settings={"customer_id_field": "id"},
                     credentials={"tenant_id": "demo-tenant", "token": "demo-8x8-token"})

    SETTINGS = {
        "customer_id_field": "Where the 8x8 Local CRM account number (customer-id) comes from: "
                             "\"external_id\" (default), \"id\" or \"metadata.<key>\".",
    }
    setting_checks = {"customer_id_field": customer_id_field_error}

    @classmethod
    def lead_requirements(cls, settings: dict[str, Any]) -> list[Requirement]:
        field = customer_id_field(settings)
        if field == "id":  # LeadHub's own id: every lead has one
            return [PHONE]
        return [PHONE, Requirement(
            (field,), f"the customer's numeric 8x8 Local CRM account number (customer-id) in {field} "
                      "(8x8 only queues customers that already exist in its Local CRM)",
            check=lambda lead: customer_id_for(lead, {"customer_id_field": field}).isdigit())]

    def _auth(self) -> tuple[str, str]:
        return (str(self.credentials.get("tenant_id", "")), str(self.credentials.get("token", "")))

    def _campaign_path(self) -> str:
        return quote(self.remote_ref.strip(), safe="")

    def _message(self, response) -> str:
        body = self.json_or_none(response)
        message = body.get("message") if isinstance(body, dict) else None
        return self.redact(str(message or (response.text or "").strip()[:300] or f"HTTP {response.status_code}"))

    # ---- operations -----------------------------------------------------------
    def payload(self, operation: str, item: Item) -> dict[str, str] | str:
        """push: the CustomerItem; end_contact: the customer-id."""
        if operation == "push":
            return customer_item(item, self.settings, dt.datetime.now(dt.timezone.utc))
        customer_id = item.remote_ref or customer_id_for(item.lead, self.settings)
        if not customer_id:
            raise Unsendable("missing_customer_id", "The lead has no 8x8 Local CRM account number to delete.")
        return customer_id

    def send_items(self, operation: str, ready: list[tuple[Item, Any]]):
        if operation != "push":
            return super().send_items(operation, ready)
        items, body = [r[0] for r in ready], [r[1] for r in ready]
        response = self.send("POST", f"{self._campaign_path()}/customers", json_body=body, auth=self._auth())
        status = response.status_code
        if status == 207 or (200 <= status < 300):
            return self._parse_multi_status(items, body, self.json_or_none(response), status)
        message = self._message(response)
        code = "not_found" if status == 404 else refusal_code(message) if status == 400 else "invalid"
        return [ItemResult(i.id, REJECTED, code=code, message=message, http_status=status) for i in items]

    def _parse_multi_status(self, items: list[Item], sent: list[dict], answer: Any, status: int) -> list[ItemResult]:
        ids = [entry["customer-id"] for entry in sent]
        if not isinstance(answer, list):  # 2xx without a per-item list: the customers were taken
            return [ItemResult(i.id, ACCEPTED, remote_ref=c, http_status=status) for i, c in zip(items, ids)]
        # the customers in request order, else matched by customer-id (an unmatched item has no entry)
        entries = entries_for(ids, answer, lambda entry: entry.get("customer-id"))
        return [item_result(item, entry, c) if isinstance(entry, dict) else
                ItemResult(item.id, RETRY, code="vendor_unavailable", http_status=status,
                           message="8x8 answered without a status for this customer.")
                for item, c, entry in zip(items, ids, entries)]

    def request(self, operation: str, item: Item, customer_id: str):
        return self.send("DELETE", f"{self._campaign_path()}/customers/{quote(customer_id, safe='')}", auth=self._auth())

    def parse(self, operation: str, item: Item, customer_id: str, response) -> ItemResult:
        status = response.status_code
        if 200 <= status < 300:
            return ItemResult(item.id, ACCEPTED, remote_ref=customer_id, http_status=status)
        if status == 404:
            return ItemResult(item.id, ACCEPTED, remote_ref=customer_id, code="not_found", http_status=status,
                              message=self._message(response) if response.text else
                              "8x8 has no such customer in the campaign: nothing to stop.")
        message = self._message(response)
        return ItemResult(item.id, REJECTED, code=refusal_code(message), message=message, http_status=status)

    def set_campaign_status(self, status: str) -> CampaignStatusResult:
        """PATCH /{campaign-id} {status}. Raises VendorError with the vendor's message when 8x8
        refuses (400 invalid transition / not dynamic / not enabled, 404 unknown campaign)."""
        status = (status or "").upper()
        if status not in CAMPAIGN_STATUSES:
            raise VendorError(f"8x8 campaign status must be one of {', '.join(CAMPAIGN_STATUSES)}; got {status!r}.",
                              permanent=True, code="invalid")
        config_error = self.setup_error()
        if config_error:
            raise config_error
        response = self.send("PATCH", self._campaign_path(), json_body={"status": status}, auth=self._auth())
        code_status = response.status_code
        if 200 <= code_status < 300:
            return CampaignStatusResult(self.remote_ref, status, code_status)
        if code_status == 404:
            message = self._message(response) if response.text else "The campaign cannot be found."
            raise VendorError(message, permanent=True, http_status=404, code="not_found")
        message = self._message(response)
        code = "invalid_transition" if "transition" in message.lower() else refusal_code(message)
        raise VendorError(message, permanent=True, http_status=code_status, code=code,
                          body=self.redact((response.text or "")[:500]))
