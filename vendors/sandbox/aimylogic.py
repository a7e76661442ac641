"""Aimylogic Calls API simulator — seeds/004_160e602565715916.txt, under the prefix ``/aimylogic``.

An account's base URL is ``http://host:port/aimylogic``.

    POST /api/calls/campaign/{token}/addPhones          200 [job id, …] | 400 | 401
    GET  /api/crmCalls/campaign/{token}/test/addPhone   200 {"id", "phone", "test": true} | 400 | 401

Behaviour, as the seed describes it:

- **Duplicates** are entries with the same ``phone`` and identical ``payload``
  (or the same phone, both without payload). Duplicates inside one request fail
  it with the seed's body, word for word in shape::

      {"type": "phone.duplicated", "phone": "<first listed>", "message": "",
       "phonesDuplicates": [...]}

  (listed in reverse order of detection, which reproduces the seed's example).
- **24 hours.** A request *without* ``Idempotence-Key`` that repeats an entry
  added by another request without a key less than 24 h ago fails the same way.
  A request *with* a key seen less than 24 h ago creates nothing and answers the
  job ids of the first request. A different key, or a key on only one of the
  two requests, creates new jobs. Keys are kept only for requests that
  succeeded, and expire 24 h after first use.
- **Validation** (the seed names no error body but ``phone.duplicated``; ours is
  ``{"type": "request.invalid", "message": …}`` with HTTP 400): the body must be
  a non-empty array of objects; ``phone`` required, digits only (an optional
  leading ``+``); known fields only; ``payload`` an object; ``startDateTime``/
  ``finishDateTime`` ISO 8601 instants; ``allowedDays`` weekday names;
  ``allowedTime`` keys weekdays or ``default``, every interval with both
  ``localTimeFrom`` and ``localTimeTo`` (``HH:mm``), intervals not overlapping;
  ``retryIntervalInMinutes``/``maxAttempts`` positive integers; ``gmtZone`` one
  of the seed's formats or an IANA zone id.
- **Magic token:** any token containing ``invalid`` → 401
  ``{"type": "campaign.token.invalid", "message": "Unknown campaign token"}``.
- **Time** is injectable for tests: ``sim.now`` (epoch seconds callable) or
  ``sim.advance(seconds)``.

``state()``: ``{"jobs": {id: entry + {token, created_at, test}}, "job_count",
"idempotency_keys": {key: [ids]}, "recent_numbers": [phone, …]}``.
"""
from __future__ import annotations

import json
import re
import time
import zoneinfo
from typing import Any, Callable

from .server import SandboxRequest, SandboxResponse, VendorSim

DAY_SECONDS = 24 * 3600
WEEKDAYS = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"}
FIELDS = {"phone", "payload", "startDateTime", "finishDateTime", "allowedDays", "allowedTime",
          "retryIntervalInMinutes", "maxAttempts", "gmtZone"}
PHONE = re.compile(r"^\+?\d{5,16}$")
HH_MM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
INSTANT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$")
OFFSET = re.compile(r"^(?:Z|UTC|GMT|UT|(?:UTC|GMT|UT)?[+-](?:\d{1,2}|\d{2}(:?)\d{2}(?:\1\d{2})?))$")
ADD_PHONES = re.compile(r"^/api/calls/campaign/([^/]+)/addPhones$")
TEST_CALL = re.compile(r"^/api/crmCalls/campaign/([^/]+)/test/addPhone$")


def invalid(message: str) -> SandboxResponse:
    return SandboxResponse(400, {"type": "request.invalid", "message": message})


def signature(entry: dict) -> tuple[str, str | None]:
    payload = entry.get("payload")
    return entry["phone"], (json.dumps(payload, sort_keys=True) if payload is not None else None)


class AimylogicSim(VendorSim):
    prefix = "aimylogic"

    def reset(self) -> None:
        self.jobs: dict[int, dict[str, Any]] = {}
        self.next_id = 100001
        self.keys: dict[tuple[str, str], tuple[list[int], float]] = {}       # (token, key) → (ids, first use)
        self.recent: dict[tuple[str, tuple], float] = {}  # (token, signature) → when added by a keyless request
        self.offset = 0.0
        self.now: Callable[[], float] = lambda: time.time() + self.offset

    def advance(self, seconds: float) -> None:
        """Move the simulator's clock forward (tests: 'more than 24 h later')."""
        with self.lock:
            self.offset += seconds

    def state(self) -> dict:
        return {
            "jobs": {str(k): v for k, v in self.jobs.items()},
            "job_count": len(self.jobs),
            "idempotency_keys": {key: ids for (_, key), (ids, _) in self.keys.items()},
            "recent_numbers": sorted({sig[0] for (_, sig) in self.recent}),
        }

    # ---- dispatch ---------------------------------------------------------
    def handle(self, request: SandboxRequest) -> SandboxResponse:
        match = ADD_PHONES.match(request.path)
        if match and request.method == "POST":
            return self.guarded(match.group(1)) or self.add_phones(match.group(1), request)
        match = TEST_CALL.match(request.path)
        if match and request.method == "GET":
            return self.guarded(match.group(1)) or self.test_call(match.group(1), request)
        return SandboxResponse(404, {"type": "not.found", "message": "Not found"})

    @staticmethod
    def guarded(token: str) -> SandboxResponse | None:
        if not token or "invalid" in token:
            return SandboxResponse(401, {"type": "campaign.token.invalid", "message": "Unknown campaign token"})
        return None

    # ---- addPhones --------------------------------------------------------
    def add_phones(self, token: str, request: SandboxRequest) -> SandboxResponse:
        now = self.now()
        self.expire(now)
        key = request.headers.get("idempotence-key") or ""
        try:
            entries = request.json()
        except ValueError:
            return invalid("The request body must be a JSON array.")
        if not isinstance(entries, list) or not entries:
            return invalid("The request body must be a non-empty array of phone objects.")
        for n, entry in enumerate(entries):
            problem = self.entry_problem(entry)
            if problem:
                return invalid(f"Element {n}: {problem}")
        if key and (token, key) in self.keys:
            return SandboxResponse(200, list(self.keys[(token, key)][0]))

        detected: list[str] = []
        seen: set[tuple] = set()
        for entry in entries:
            sig = signature(entry)
            if sig in seen and entry["phone"] not in detected:
                detected.append(entry["phone"])
            seen.add(sig)
            if not key and (token, sig) in self.recent and entry["phone"] not in detected:
                detected.append(entry["phone"])
        if detected:
            listed = list(reversed(detected))
            return SandboxResponse(400, {"type": "phone.duplicated", "phone": listed[0], "message": "",
                                         "phonesDuplicates": listed})

        ids = []
        for entry in entries:
            job_id = self.next_id
            self.next_id += 1
            self.jobs[job_id] = {**entry, "token": token, "created_at": now, "test": False}
            if not key:
                self.recent[(token, signature(entry))] = now
            ids.append(job_id)
        if key:
            self.keys[(token, key)] = (ids, now)
        return SandboxResponse(200, ids)

    def expire(self, now: float) -> None:
        for k in [k for k, (_, first_used) in self.keys.items() if now - first_used >= DAY_SECONDS]:
            del self.keys[k]
        for k in [k for k, added_at in self.recent.items() if now - added_at >= DAY_SECONDS]:
            del self.recent[k]

    @staticmethod
    def entry_problem(entry: Any) -> str:
        if not isinstance(entry, dict):
            return "must be an object."
        unknown = set(entry) - FIELDS
        if unknown:
            return f"unknown field(s) {', '.join(sorted(unknown))}."
        if not isinstance(entry.get("phone"), str) or not PHONE.match(entry["phone"]):
            return "phone is required: digits, e.g. \"79123456789\"."
        if "payload" in entry and not isinstance(entry["payload"], dict):
            return "payload must be an object."
        for field in ("startDateTime", "finishDateTime"):
            if field in entry and not (isinstance(entry[field], str) and INSTANT.match(entry[field])):
                return f"{field} must be an ISO 8601 date-time such as 2020-03-23T00:00:00Z."
        if "allowedDays" in entry:
            days = entry["allowedDays"]
            if not isinstance(days, list) or not all(d in WEEKDAYS for d in days):
                return "allowedDays must be a list of mon, tue, wed, thu, fri, sat, sun."
        if "allowedTime" in entry:
            problem = AimylogicSim.allowed_time_problem(entry["allowedTime"])
            if problem:
                return problem
        for field in ("retryIntervalInMinutes", "maxAttempts"):
            value = entry.get(field, 1)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                return f"{field} must be a positive integer."
        if "gmtZone" in entry:
            zone = entry["gmtZone"]
            if not isinstance(zone, str) or not (OFFSET.match(zone) or AimylogicSim.is_iana(zone)):
                return f"gmtZone {zone!r} is not a valid zone."
        return ""

    @staticmethod
    def is_iana(zone: str) -> bool:
        try:
            zoneinfo.ZoneInfo(zone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            return False
        return True

    @staticmethod
    def allowed_time_problem(value: Any) -> str:
        if not isinstance(value, dict):
            return "allowedTime must be an object."
        for day, intervals in value.items():
            if day != "default" and day not in WEEKDAYS:
                return f"allowedTime: unknown key {day}."
            if not isinstance(intervals, list):
                return f"allowedTime.{day} must be an array."
            spans = []
            for interval in intervals:
                if not isinstance(interval, dict) or "localTimeFrom" not in interval or "localTimeTo" not in interval:
                    return f"allowedTime.{day}: every interval needs localTimeFrom and localTimeTo."
                start, end = interval["localTimeFrom"], interval["localTimeTo"]
                if not (isinstance(start, str) and HH_MM.match(start) and isinstance(end, str) and HH_MM.match(end)):
                    return f"allowedTime.{day}: times must be HH:mm."
                spans.append((start, end))
            spans.sort()
            for (_, end), (start, _) in zip(spans, spans[1:]):
                if end > start:
                    return f"allowedTime.{day}: intervals overlap."
        return ""

    # ---- test call --------------------------------------------------------
    def test_call(self, token: str, request: SandboxRequest) -> SandboxResponse:
        phone = request.arg("phone") or ""
        if not PHONE.match(phone):
            return invalid("phone is required: digits, e.g. 79123456789.")
        job_id = self.next_id
        self.next_id += 1
        self.jobs[job_id] = {"phone": phone, "token": token, "created_at": self.now(), "test": True}
        return SandboxResponse(200, {"id": job_id, "phone": phone, "test": True})

