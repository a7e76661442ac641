"""Aimylogic call campaigns — implements seeds/004_160e602565715916.txt (Calls API).

    push  POST /api/calls/campaign/{token}/addPhones  [{phone, payload, …}] → [call-job id, …]

Points of the contract that are easy to get wrong:

- The campaign ``{token}`` in the URL path *is* the credential: the destination's
  ``secret`` (encrypted), never ``remote_ref``; recorded URLs show ``***``.
- ``phone`` is digits only, international form without ``+`` (``"79123456789"``).
- The answer is an array of call-job ids, one per phone *in request order*; each
  becomes that item's ``remote_ref``.
- ``Idempotence-Key`` keys a *request*: the same key within 24 h creates nothing and
  answers "the ID of the same job that was previously created by the first request".
  So a key is chosen once per request (``batching.request_key``) and tied to its
  items with their positions (``fix_call_ref``), stored *before* the request leaves.
  A retry, however the pipeline regroups it, sends each earlier request's remaining
  items again under their own key, and new items under a new one; a request's items
  are never split across new keys (that is what called people twice). The answer to
  a repeated key is read by its length (``batching.answers_to_request``): as long as
  what we sent, in our order; as long as the first request, indexed by ``call_index``;
  else an earlier try succeeded and the items are accepted, job id unknown.
- Duplicates are phone + identical ``payload`` (or phone without payload). Duplicates
  *inside one request* fail the whole request with ``{"type": "phone.duplicated",
  "phonesDuplicates": [...]}``. We never fail the rest: of each listed phone's
  identical entries the first stays and the others are rejected ``duplicate_in_batch``;
  the rest is sent again under a new key (a new set of items). A listed phone alone in
  our request was queued by an earlier request (the seed's "within 24 h without an
  idempotence key"; we always send a key, but the error shape allows it): ACCEPTED
  ``duplicate``, no job id.
- ``allowedDays``/``allowedTime``/``gmtZone``/``retryIntervalInMinutes``/``maxAttempts``
  come from the destination settings under the vendor's names. An item's calling
  window wins for ``allowedDays``, ``allowedTime`` (the ``default`` interval) and
  ``gmtZone`` (its IANA id, which the seed accepts). ``startDateTime`` is
  ``item.contact_at`` (UTC, ``2020-03-23T00:00:00Z``) when set.
- ``allowedTime`` intervals need ``localTimeFrom`` and ``localTimeTo`` (``HH:mm``) and
  must not overlap; ``gmtZone`` is ``Z``, ``±h``, ``±hh``, ``±hh[:]mm``, ``±hh[:]mm[:]ss``
  optionally prefixed ``UTC``/``GMT``/``UT``, or an IANA id. Settings are checked when
  saved and again before sending; an item whose window cannot be expressed is
  rejected alone.
- The seed documents no other error shape and no batch limit: another 4xx rejects the
  request's items with the vendor's words; ``max_batch = 100`` keeps a request small.
- ``GET /api/crmCalls/campaign/{token}/test/addPhone`` *places a real test call*:
  there is no harmless call, so ``check_connection`` sends nothing.
"""
from __future__ import annotations

import functools
import json
import re
from collections import Counter
import zoneinfo
from typing import Any
from urllib.parse import quote

from .base import ACCEPTED, REJECTED, DemoSetup, Item, ItemResult, Unsendable, VendorClient, VendorError, utc_stamp
from .batching import answers_to_request, by_request, request_key
from .setting_checks import boolean, json_object, lead_field_list, whole_number

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
HH_MM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
GMT_OFFSET = re.compile(
    r"^(?:Z|(?:UTC|GMT|UT)|(?:UTC|GMT|UT)?[+-](?:\d{1,2}|(?P<h>\d{2})(?P<sep>:?)(?P<m>\d{2})(?:(?P=sep)(?P<s>\d{2}))?))$"
)
PAYLOAD_LEAD_FIELDS = frozenset({
    "id", "first_name", "last_name", "email", "external_id", "address", "city", "region", "postal_code",
    "country", "timezone", "source", "link",
})
DEFAULT_PAYLOAD_FIELDS = ("first_name", "last_name", "email", "external_id")
MAX_DUPLICATE_ROUNDS = 5


# ---- checks shared by validate_settings and push: each says what is wrong, "" when nothing is
@functools.lru_cache(maxsize=1)
def _iana_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def gmt_zone_error(value: Any) -> str:
    if not isinstance(value, str) or not value:
        return "Must be text such as \"+03:00\", \"GMT-5\", \"Z\" or an IANA zone like \"Europe/Moscow\"."
    match = GMT_OFFSET.match(value)
    if match:
        digits = re.sub(r"\D", "", value)
        hours = int(digits[:2] if len(digits) != 1 else digits) if digits else 0
        if hours > 18 or int(match.group("m") or 0) > 59 or int(match.group("s") or 0) > 59:
            return f"{value!r} is out of range: offsets go from -18:00 to +18:00."
        return ""
    return "" if value in _iana_zones() else (
        f"{value!r} is not a zone Aimylogic accepts: use Z, ±h, ±hh, ±hh:mm, ±hh:mm:ss (optionally with a "
        "UTC/GMT/UT prefix, e.g. GMT-05:00) or an IANA zone id such as America/Chicago.")


def allowed_days_error(value: Any) -> str:
    if not isinstance(value, list) or not value or not all(isinstance(d, str) for d in value):
        return f"Must be a non-empty list of weekdays from {', '.join(WEEKDAYS)}."
    unknown = [d for d in value if d not in WEEKDAYS]
    if unknown:
        return f"Unknown weekday(s) {', '.join(unknown)}; use {', '.join(WEEKDAYS)}."
    if len(set(value)) != len(value):
        return "Each weekday may appear only once."
    return ""


def allowed_time_error(value: Any) -> str:
    """The seed's rules: keys are weekdays or ``default``; every interval has both
    ``localTimeFrom`` and ``localTimeTo`` (HH:mm), and intervals of a day do not overlap."""
    if not isinstance(value, dict) or not value:
        return ("Must be an object such as {\"default\": [{\"localTimeFrom\": \"10:00\", "
                "\"localTimeTo\": \"18:00\"}]}.")
    for day, intervals in value.items():
        if day not in WEEKDAYS and day != "default":
            return f"Unknown key {day!r}: use \"default\" or a weekday ({', '.join(WEEKDAYS)})."
        if not isinstance(intervals, list) or not intervals:
            return f"{day}: must be a non-empty list of {{\"localTimeFrom\", \"localTimeTo\"}} intervals."
        spans = []
        for n, interval in enumerate(intervals, 1):
            if not isinstance(interval, dict):
                return f"{day} interval {n}: must be an object with localTimeFrom and localTimeTo."
            start, end = interval.get("localTimeFrom"), interval.get("localTimeTo")
            if start is None or end is None:
                return f"{day} interval {n}: needs both localTimeFrom and localTimeTo."
            extra = set(interval) - {"localTimeFrom", "localTimeTo"}
            if extra:
                return f"{day} interval {n}: unknown field(s) {', '.join(sorted(extra))}."
            if not (isinstance(start, str) and HH_MM.match(start) and isinstance(end, str) and HH_MM.match(end)):
                return f"{day} interval {n}: times must be HH:mm (00:00–23:59), got {start!r}–{end!r}."
            if start >= end:
                return f"{day} interval {n}: localTimeFrom {start} must be before localTimeTo {end}."
            spans.append((start, end))
        spans.sort()
        for (_, previous_end), (next_start, _) in zip(spans, spans[1:]):
            if previous_end > next_start:
                return f"{day}: intervals overlap ({previous_end} is after {next_start})."
    return ""


def phone_digits(number: Any) -> str:
    """E.164 without the ``+`` (``79123456789``), "" when the lead has none."""
    return re.sub(r"\D", "", str(number)) if number else ""


def duplicate_signature(entry: dict[str, Any]) -> tuple[str, str | None]:
    """What the seed calls a duplicate: the same phone and the same payload (or none)."""
    payload = entry.get("payload")
    return entry["phone"], (json.dumps(payload, sort_keys=True) if payload is not None else None)


def phone_entry(item: Item, settings: dict[str, Any]) -> dict[str, Any]:
    """The one mapping from a lead (+ destination settings, + the item's window and time)
    to an addPhones entry."""
    lead = item.lead
    phone = phone_digits(lead.phone)
    if not phone:
        raise Unsendable("invalid", "The lead has no phone number.")
    entry: dict[str, Any] = {"phone": phone}
    payload: dict[str, Any] = dict(lead.metadata or {}) if settings.get("include_metadata", True) else {}
    for field in settings.get("payload_fields", DEFAULT_PAYLOAD_FIELDS):
        value = getattr(lead, field, None)
        if value not in (None, ""):
            payload[field] = value if isinstance(value, (int, float)) else str(value)
    payload.update(settings.get("payload_extra") or {})
    if payload:
        entry["payload"] = payload
    if item.contact_at is not None:
        entry["startDateTime"] = utc_stamp(item.contact_at)
    for key in ("allowedDays", "allowedTime", "retryIntervalInMinutes", "maxAttempts", "gmtZone"):
        if key in settings:
            entry[key] = settings[key]
    window = item.window
    if window is not None:
        days = list(window.days)
        times = {"default": [{"localTimeFrom": window.start.strftime("%H:%M"),
                              "localTimeTo": window.end.strftime("%H:%M")}]}
        problem = allowed_days_error(days) or allowed_time_error(times) or gmt_zone_error(window.time_zone)
        if problem:
            raise Unsendable("invalid", f"The lead's calling window cannot be sent to Aimylogic: {problem}")
        entry.update(allowedDays=days, allowedTime=times, gmtZone=window.time_zone)
    return entry


class AimylogicClient(VendorClient):
    kind = "aimylogic"
    label = "Aimylogic"
    seed = "004_160e602565715916.txt"
    max_batch = 100                      # the seed sets no limit; see the module docstring
    schedules_calls = True               # the calling window / start time travels with the lead
    needs_destination_secret = True      # the campaign token in the URL path
    secret_name = "campaign token"
    remote_ref_label = "Aimylogic campaign name (label only: the token, kept as the secret, selects it)"
    default_base_url = "https://app.aimylogic.com"
    secret_help = "the campaign token"
    unchecked = ("Aimylogic has no call that checks a campaign token without side effects (test/addPhone places a "
                 "real call), so nothing was sent. The token is checked by the first push.")
    demo = DemoSetup("solar", settings={"retryIntervalInMinutes": 60, "maxAttempts": 2}, secret="demo-aimylogic-token")

    SETTINGS = {
        "allowedDays": "Weekdays calls are allowed, e.g. [\"mon\", \"wed\", \"fri\"].",
        "allowedTime": "Allowed local times per weekday or \"default\": "
                       "{\"default\": [{\"localTimeFrom\": \"10:00\", \"localTimeTo\": \"18:00\"}]}.",
        "gmtZone": "The customers' time zone: \"+03:00\", \"GMT-5\", \"Z\" or an IANA id (\"Europe/Moscow\").",
        "retryIntervalInMinutes": "Minutes between call attempts, e.g. 120.",
        "maxAttempts": "Total call attempts per number, e.g. 3.",
        "payload_fields": f"Lead fields passed to the script as payload (default {list(DEFAULT_PAYLOAD_FIELDS)}).",
        "include_metadata": "Whether the lead's metadata goes into the payload too (default true).",
        "payload_extra": "Constant values added to every payload, e.g. {\"promo\": \"20% off\"}.",
    }
    setting_checks = {
        "allowedDays": allowed_days_error, "allowedTime": allowed_time_error, "gmtZone": gmt_zone_error,
        "retryIntervalInMinutes": whole_number(1), "maxAttempts": whole_number(1),
        "payload_fields": lead_field_list(PAYLOAD_LEAD_FIELDS), "include_metadata": boolean, "payload_extra": json_object,
    }

    def _vendor_message(self, response, body: Any) -> str:
        if isinstance(body, dict) and (body.get("type") or body.get("message")):
            return self.redact(": ".join(str(part) for part in (body.get("type"), body.get("message")) if part))
        return self.redact((response.text or "").strip()[:300] or f"HTTP {response.status_code}")

    def setup_error(self, *, account_only: bool = False) -> VendorError | None:
        problems = {} if account_only else self.validate_settings(self.settings)
        if problems:
            return VendorError("Destination settings are invalid: " + "; ".join(f"{k}: {v}" for k, v in problems.items()),
                               permanent=True, code="invalid")
        return super().setup_error(account_only=account_only)

    def payload(self, operation: str, item: Item) -> dict[str, Any]:
        return phone_entry(item, self.settings)

    def send_items(self, operation: str, ready: list[tuple[Item, dict[str, Any]]]):
        for key, pending in by_request(ready).items():    # a retry goes under its earlier request's key
            # entries in one order (by item key), so a resent request lists its items as before
            pending.sort(key=lambda p: p[0].idempotency_key or f"delivery-{p[0].id}")
            for _ in range(MAX_DUPLICATE_ROUNDS):
                if not pending:
                    break
                pending, decided = self._post(pending, key)
                key = ""  # what is resent (duplicates taken out) is a new set of items: a new request
                for result in decided:  # one request carries and decides its items
                    result.sent_in = result.decided_by = self.last_exchange()
                    yield result
            for item, _ in pending:  # the vendor kept reporting duplicates: give up on these
                yield ItemResult(item.id, REJECTED, code="invalid",
                                 message="Aimylogic kept reporting duplicates; these numbers were not added.")

    def _post(self, pending: list[tuple[Item, dict[str, Any]]], key: str) -> tuple[list, list[ItemResult]]:
        """One addPhones request: (what to send again, the results it decided)."""
        items = [item for item, _ in pending]
        if not key:
            key = request_key(items)
            self.fix_call_ref(items, key)     # stored before the request leaves
        try:
            response = self.send("POST", f"api/calls/campaign/{quote(self.secret, safe='')}/addPhones",
                                 json_body=[entry for _, entry in pending], headers={"Idempotence-Key": key})
        except VendorError as error:   # this request failed; another one of the chunk may not
            return [], self.fail_all(items, error)
        body, status = self.json_or_none(response), response.status_code
        if 200 <= status < 300:
            return [], self._job_results(items, body, status, key)
        message = self._vendor_message(response, body)
        if isinstance(body, dict) and body.get("type") == "phone.duplicated" and body.get("phonesDuplicates"):
            resend, split = self._split_duplicates(pending, body["phonesDuplicates"], message, status)
            if split:
                return resend, split
        return [], [ItemResult(i.id, REJECTED, code="invalid", message=message, http_status=status) for i in items]

    @staticmethod
    def _split_duplicates(pending, phones_duplicates, message, http_status):
        """Take out what ``phonesDuplicates`` names. Returns (what to resend, results of the rest)."""
        listed = {re.sub(r"\D", "", str(p)) for p in phones_duplicates}
        signatures = Counter(duplicate_signature(entry) for _, entry in pending)
        repeated = {phone for (phone, _), n in signatures.items() if n > 1 and phone in listed}
        first: dict[tuple[str, str | None], Item] = {}
        resend, split = [], []
        for item, entry in pending:
            phone, signature = entry["phone"], duplicate_signature(entry)
            if phone not in listed:
                resend.append((item, entry))
            elif phone not in repeated:  # alone in this request: queued at the vendor by an earlier one
                split.append(ItemResult(item.id, ACCEPTED, code="duplicate", http_status=http_status,
                                        message=f"Aimylogic already has this number from an earlier request ({message})."))
            elif signature in first:
                split.append(ItemResult(item.id, REJECTED, code="duplicate_in_batch", http_status=http_status,
                                        message=f"Same phone and payload as item {first[signature].id} of this "
                                                f"batch, which was sent instead ({message})."))
            else:
                first[signature] = item
                resend.append((item, entry))
        return resend, split

    def _job_results(self, items: list[Item], body: Any, http_status: int, key: str) -> list[ItemResult]:
        """Job ids back to items. A repeated key answers the first request's ids: see the module docstring."""
        if not (isinstance(body, list) and body):
            return [ItemResult(i.id, ACCEPTED, message="Aimylogic answered without job ids.", http_status=http_status)
                    for i in items]
        ids = answers_to_request(items, body)
        if ids is None:
            note = (f"Aimylogic answered Idempotence-Key {key} with {len(body)} job ids for an earlier try "
                    "of this request: the number is queued there, its job id cannot be matched.")
            return [ItemResult(i.id, ACCEPTED, code="duplicate", message=note, http_status=http_status) for i in items]
        return [ItemResult(i.id, ACCEPTED, remote_ref=str(job_id), http_status=http_status)
                for i, job_id in zip(items, ids)]
