"""Aimylogic call campaigns — implements seeds/004_160e602565715916.txt (Calls API).

Operations used by LeadHub:

    push       POST /api/calls/campaign/{token}/addPhones           [{phone, payload, …}] → [call-job id, …]
    test_call  GET  /api/crmCalls/campaign/{token}/test/addPhone    places a test call (never used implicitly)

Points of the contract that are easy to get wrong:

- The campaign ``{token}`` in the URL path *is* the credential. It is the
  destination's ``secret`` (encrypted), never ``remote_ref``; every recorded URL
  and excerpt has it replaced by ``***`` (``VendorClient.redact``).
- ``phone`` is digits only, international form without ``+`` (the seed's
  ``"79123456789"``): we send the lead's E.164 number minus the ``+``.
- The answer is an array of call-job ids, one per phone *in request order*: it
  becomes ``ItemResult.remote_ref`` item by item.
- ``Idempotence-Key``: the seed keys a *request*: the same key within 24 h
  creates nothing and answers "the ID of the same job that was previously
  created by the first request". So a key is chosen once per request,
  ``"lh-" + sha256(sorted item keys)[:40]``, and tied to each of its items with
  their positions (``fix_call_ref``), which the pipeline stores *before* the
  request leaves. A retry, however the pipeline regroups it (a lost reply, then
  12 of the 20 items due, then 8 merged with new leads), sends each earlier
  request's remaining items again under their own key, and new items under a
  new one. The answer to a repeated key is read by its length: the first
  request's whole id list (``call_size`` ids) is indexed by each item's
  ``call_index``; a list as long as what we sent means the vendor acted on this
  request now, in our order; any other length means an earlier try of the same
  key, carrying these items, succeeded, so they are at the vendor (accepted, the
  job id unknown). A request's items are never split across new keys: that is
  what called people twice.
- Duplicates are phone + identical ``payload`` (or phone without payload).
  Duplicates *inside one request* fail the whole request with
  ``{"type": "phone.duplicated", "phonesDuplicates": [...]}``. We never fail the
  rest: for each listed phone the first occurrence stays and later identical
  entries are rejected with code ``duplicate_in_batch``; the rest is sent again
  (a new key, since it is a new set of items). A listed phone that occurs only
  once in our request is a repeat of an earlier request (the seed's "within 24 h
  without an idempotence key"): the number is already queued at the vendor, so
  the item is ACCEPTED with code ``duplicate`` (no job id is given back). We
  always send a key, so per the seed this second case should not occur; it is
  handled because the error shape allows it.
- ``allowedDays``/``allowedTime``/``gmtZone``/``retryIntervalInMinutes``/
  ``maxAttempts`` come from the destination settings, with the vendor's own
  names. When the pipeline gives an item a calling window, the window wins for
  ``allowedDays``, ``allowedTime`` (as the ``default`` interval) and ``gmtZone``
  (its IANA zone id, which the seed accepts). ``startDateTime`` is
  ``item.contact_at`` (UTC, ``2020-03-23T00:00:00Z``) when set.
- ``allowedTime`` intervals need both ``localTimeFrom`` and ``localTimeTo``
  (``HH:mm``) and must not overlap; ``gmtZone`` is ``Z``, ``±h``, ``±hh``,
  ``±hh[:]mm``, ``±hh[:]mm[:]ss`` optionally prefixed ``UTC``/``GMT``/``UT``, or an
  IANA zone id. Settings are checked by ``validate_settings`` and again before
  sending; an item whose calling window cannot be expressed is rejected alone.
- The seed documents no error shape other than ``phone.duplicated`` and no
  batch limit; another 4xx rejects the request's items with the vendor's words,
  and ``max_batch = 100`` keeps one request (and one retry) small.
- There is no harmless call: ``test/addPhone`` *places a real test call*, so
  ``check_connection`` sends nothing; ``test_call(phone)`` is explicit.
"""
from __future__ import annotations

import functools
import hashlib
import json
import logging
import re
import zoneinfo
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from .base import (
    ACCEPTED, REJECTED, ConnectionReport, DemoSetup, Item, ItemResult, VendorClient, VendorError, utc_stamp,
)

log = logging.getLogger(__name__)

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


# ---- checks shared by validate_settings and push ------------------------------
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
        minutes = int(match.group("m") or 0)
        seconds = int(match.group("s") or 0)
        if hours > 18 or minutes > 59 or seconds > 59:
            return f"{value!r} is out of range: offsets go from -18:00 to +18:00."
        return ""
    if value in _iana_zones():
        return ""
    return (f"{value!r} is not a zone Aimylogic accepts: use Z, ±h, ±hh, ±hh:mm, ±hh:mm:ss (optionally with a "
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


def positive_int_error(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        return "Must be a whole number of at least 1."
    return ""


def phone_digits(number: Any) -> str:
    """E.164 without the ``+`` (``79123456789``), "" when the lead has none."""
    if not number:
        return ""
    return re.sub(r"\D", "", str(number))


def item_key(item: Item) -> str:
    return item.idempotency_key or f"delivery-{item.id}"


def idempotence_key(items: list[Item]) -> str:
    """Stable for the same set of items, whatever their order."""
    keys = sorted(item_key(item) for item in items)
    return "lh-" + hashlib.sha256("\n".join(keys).encode()).hexdigest()[:40]


def duplicate_signature(entry: dict[str, Any]) -> tuple[str, str | None]:
    """What the seed calls a duplicate: the same phone and the same payload (or none)."""
    payload = entry.get("payload")
    return entry["phone"], (json.dumps(payload, sort_keys=True) if payload is not None else None)


def phone_entry(item: Item, settings: dict[str, Any]) -> dict[str, Any]:
    """The one mapping from a lead (+ destination settings, + the item's window and time)
    to an addPhones entry. Raises ValueError(code, message) so that no request carries it."""
    lead = item.lead
    phone = phone_digits(lead.phone)
    if not phone:
        raise ValueError("invalid", "The lead has no phone number.")
    entry: dict[str, Any] = {"phone": phone}

    payload: dict[str, Any] = {}
    if settings.get("include_metadata", True):
        payload.update(lead.metadata or {})
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
        start, end = window.start.strftime("%H:%M"), window.end.strftime("%H:%M")
        problem = (allowed_days_error(days)
                   or allowed_time_error({"default": [{"localTimeFrom": start, "localTimeTo": end}]})
                   or gmt_zone_error(window.time_zone))
        if problem:
            raise ValueError("invalid", f"The lead's calling window cannot be sent to Aimylogic: {problem}")
        entry["allowedDays"] = days
        entry["allowedTime"] = {"default": [{"localTimeFrom": start, "localTimeTo": end}]}
        entry["gmtZone"] = window.time_zone
    return entry


@dataclass
class TestCallResult:
    http_status: int
    body: Any


class AimylogicClient(VendorClient):
    kind = "aimylogic"
    label = "Aimylogic"
    seed = "004_160e602565715916.txt"
    max_batch = 100                      # the seed sets no limit; see the module docstring
    schedules_calls = True               # the calling window / start time travels with the lead
    needs_destination_secret = True      # the campaign token in the URL path
    required_credentials = ()
    remote_ref_label = "Aimylogic campaign name (label only: the token, kept as the secret, selects it)"
    default_base_url = "https://app.aimylogic.com"
    secret_help = "the campaign token"
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

    # ---- settings -------------------------------------------------------------
    @classmethod
    def validate_settings(cls, settings: dict[str, Any]) -> dict[str, str]:
        if not isinstance(settings, dict):
            return {"settings": "Must be a JSON object, e.g. {\"gmtZone\": \"+03:00\", \"maxAttempts\": 2}."}
        errors = {key: f"Unknown Aimylogic setting. Known settings: {', '.join(sorted(cls.SETTINGS))}."
                  for key in settings if key not in cls.SETTINGS}
        checks = {
            "allowedDays": allowed_days_error, "allowedTime": allowed_time_error, "gmtZone": gmt_zone_error,
            "retryIntervalInMinutes": positive_int_error, "maxAttempts": positive_int_error,
        }
        for key, check in checks.items():
            if key in settings:
                problem = check(settings[key])
                if problem:
                    errors[key] = problem
        if "payload_fields" in settings:
            fields = settings["payload_fields"]
            if not isinstance(fields, list) or not all(isinstance(f, str) for f in fields):
                errors["payload_fields"] = "Must be a list of lead field names, e.g. [\"first_name\", \"email\"]."
            elif set(fields) - PAYLOAD_LEAD_FIELDS:
                errors["payload_fields"] = (f"Unknown lead field(s): {', '.join(sorted(set(fields) - PAYLOAD_LEAD_FIELDS))}. "
                                            f"Choose from: {', '.join(sorted(PAYLOAD_LEAD_FIELDS))}.")
        if "include_metadata" in settings and not isinstance(settings["include_metadata"], bool):
            errors["include_metadata"] = "Must be true or false."
        if "payload_extra" in settings and not isinstance(settings["payload_extra"], dict):
            errors["payload_extra"] = "Must be an object, e.g. {\"promo\": \"20% off\"}."
        return errors

    # ---- helpers --------------------------------------------------------------
    def _token_path(self) -> str:
        return quote(self.secret, safe="")

    def _vendor_message(self, response, body: Any) -> str:
        if isinstance(body, dict):
            kind, message = body.get("type") or "", body.get("message") or ""
            text = f"{kind}: {message}" if kind and message else (kind or message)
            if text:
                return self.redact(str(text))
        return self.redact((response.text or "").strip()[:300] or f"HTTP {response.status_code}")

    # ---- operations -----------------------------------------------------------
    def push(self, items: list[Item]) -> list[ItemResult]:
        if not self.secret:
            return self.fail_all(items, VendorError("The destination has no Aimylogic campaign token (secret).",
                                                    permanent=True, code="unauthorized"))
        settings_errors = self.validate_settings(self.settings)
        if settings_errors:
            message = "Destination settings are invalid: " + "; ".join(f"{k}: {v}" for k, v in settings_errors.items())
            return [ItemResult(i.id, REJECTED, code="invalid", message=message) for i in items]
        results: dict[int, ItemResult] = {}
        units: dict[str, list[tuple[int, Item, dict[str, Any]]]] = {}
        fresh: list[tuple[int, Item, dict[str, Any]]] = []
        for index, item in enumerate(items):
            try:
                entry = (index, item, phone_entry(item, self.settings))
            except ValueError as exc:
                code, message = exc.args
                results[index] = ItemResult(item.id, REJECTED, code=code, message=message)
                continue
            if item.call_ref:
                units.setdefault(item.call_ref, []).append(entry)
            else:
                fresh.append(entry)
        for key, pending in units.items():   # retries: the earlier request's key, whatever else is due
            results.update(self._push_chunk(pending, key))
        for start in range(0, len(fresh), self.max_batch):
            results.update(self._push_chunk(fresh[start:start + self.max_batch]))
        log.info("Aimylogic push: %d items, %d accepted", len(items),
                 sum(r.status == ACCEPTED for r in results.values()))
        return [results[i] for i in range(len(items))]

    def _push_chunk(self, pending: list[tuple[int, Item, dict[str, Any]]],
                    key: str = "") -> dict[int, ItemResult]:
        # entries in one order (by item key), so a resent request lists its items as before
        pending = sorted(pending, key=lambda p: item_key(p[1]))
        results: dict[int, ItemResult] = {}
        for _ in range(MAX_DUPLICATE_ROUNDS):
            if not pending:
                break
            chunk_items = [p[1] for p in pending]
            if not key:
                key = idempotence_key(chunk_items)
                self.fix_call_ref(chunk_items, key)     # stored before the request leaves
            try:
                response = self.send("POST", f"api/calls/campaign/{self._token_path()}/addPhones",
                                     json_body=[p[2] for p in pending], headers={"Idempotence-Key": key})
            except VendorError as error:
                return results | self._answered(dict(zip((p[0] for p in pending), self.fail_all(chunk_items, error))))
            body = self.json_or_none(response)
            if 200 <= response.status_code < 300:
                return results | self._answered(self._job_results(pending, body, response.status_code, key))
            message = self._vendor_message(response, body)
            if isinstance(body, dict) and body.get("type") == "phone.duplicated" and body.get("phonesDuplicates"):
                pending, split = self._split_duplicates(pending, body["phonesDuplicates"], message,
                                                        response.status_code)
                if split:
                    results.update(self._answered(split))
                    key = ""  # the vendor refused the request and kept no key: the rest is a new request
                    continue  # resend the rest
            return results | self._answered({index: ItemResult(item.id, REJECTED, code="invalid", message=message,
                                                               http_status=response.status_code)
                                             for index, item, _ in pending})
        for index, item, _ in pending:  # the vendor kept reporting duplicates: give up on these
            results[index] = ItemResult(item.id, REJECTED, code="invalid", http_status=None,
                                        message="Aimylogic kept reporting duplicates; these numbers were not added.")
        return results

    def _answered(self, results: dict[int, ItemResult]) -> dict[int, ItemResult]:
        """Results decided by the request just sent (one request carries and decides its items)."""
        for result in results.values():
            result.sent_in = result.decided_by = self.last_exchange()
        return results

    @staticmethod
    def _split_duplicates(pending, phones_duplicates, message, http_status):
        """Take out what ``phonesDuplicates`` names. Returns (what to resend, results of the rest)."""
        listed = {re.sub(r"\D", "", str(p)) for p in phones_duplicates}
        seen: dict[tuple[str, str | None], Item] = {}
        repeated_phones: set[str] = set()
        for _, item, entry in pending:
            signature = duplicate_signature(entry)
            if entry["phone"] in listed and signature in seen:
                repeated_phones.add(entry["phone"])
            seen.setdefault(signature, item)
        split: dict[int, ItemResult] = {}
        resend = []
        kept: set[tuple[str, str | None]] = set()
        for index, item, entry in pending:
            phone, signature = entry["phone"], duplicate_signature(entry)
            if phone not in listed:
                resend.append((index, item, entry))
            elif phone in repeated_phones:
                if signature in kept:
                    first = seen[signature]
                    split[index] = ItemResult(item.id, REJECTED, code="duplicate_in_batch", http_status=http_status,
                                              message=f"Same phone and payload as item {first.id} of this batch, "
                                                      f"which was sent instead ({message}).")
                else:
                    kept.add(signature)
                    resend.append((index, item, entry))
            else:  # listed but alone in this request: already queued at the vendor from an earlier request
                split[index] = ItemResult(item.id, ACCEPTED, code="duplicate", http_status=http_status,
                                          message=f"Aimylogic already has this number from an earlier request "
                                                  f"({message}).")
        return resend, split

    def _job_results(self, pending, body: Any, http_status: int, key: str) -> dict[int, ItemResult]:
        """Job ids back to items. A repeated key answers the first request's ids: see the module docstring."""
        if isinstance(body, list) and body:
            size = pending[0][1].call_size
            if len(body) == len(pending):                       # this request, in our order
                ids = [body[n] for n in range(len(pending))]
            elif all(item.call_size == size and item.call_index is not None and item.call_index < len(body)
                     for _, item, _ in pending) and len(body) == size:   # the first request's answer
                ids = [body[item.call_index] for _, item, _ in pending]
            else:
                note = (f"Aimylogic answered Idempotence-Key {key} with {len(body)} job ids for an earlier try "
                        "of this request: the number is queued there, its job id cannot be matched.")
                return {index: ItemResult(item.id, ACCEPTED, code="duplicate", message=note, http_status=http_status)
                        for index, item, _ in pending}
            return {index: ItemResult(item.id, ACCEPTED, remote_ref=str(job_id), http_status=http_status)
                    for (index, item, _), job_id in zip(pending, ids)}
        return {index: ItemResult(item.id, ACCEPTED, message="Aimylogic answered without job ids.",
                                  http_status=http_status) for index, item, _ in pending}

    def test_call(self, phone: Any) -> TestCallResult:
        """Place a *test call* to ``phone`` (E.164 or a PhoneNumber) through the campaign:
        ``GET /api/crmCalls/campaign/{token}/test/addPhone?phone=…``. It is not a dry run."""
        if not self.secret:
            raise VendorError("The destination has no Aimylogic campaign token (secret).", permanent=True,
                              code="unauthorized")
        response = self.send("GET", f"api/crmCalls/campaign/{self._token_path()}/test/addPhone",
                             params={"phone": phone_digits(phone)})
        body = self.json_or_none(response)
        if response.status_code >= 400:
            raise VendorError(self._vendor_message(response, body), permanent=True, code="invalid",
                              http_status=response.status_code, body=self.redact((response.text or "")[:500]))
        return TestCallResult(response.status_code, body)

    def check_connection(self) -> ConnectionReport:
        if self.destination is not None and not self.secret:
            return ConnectionReport(False, "The destination has no Aimylogic campaign token. Nothing was sent.")
        return ConnectionReport(True, "Aimylogic has no call that checks a campaign token without side effects "
                                      "(test/addPhone places a real call), so nothing was sent. The token is "
                                      "checked by the first push.")
