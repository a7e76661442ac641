"""Asynchronous bulk jobs, written once for any vendor that has them (:class:`BulkJobClient`).

A bulk import is posted once, then its job is polled until it ends (:func:`.paging.poll`), its
errors are read page by page (:func:`.paging.pages`) and each error is mapped back to the row it
names (:func:`.error_reading.error_rows`). The vendor module says which calls and which words;
this class says how.
"""
from __future__ import annotations

import datetime as dt
import logging
import math
import time
import uuid as uuidlib
from typing import Any, Callable, ClassVar, Iterator

import requests

from .base import ACCEPTED, REJECTED, RETRY, Item, ItemResult, VendorClient, VendorError
from .batching import by_request
from .error_reading import error_rows, error_words, flatten_errors
from .paging import Unreadable, pages, poll
from .setting_checks import boolean, one_of, whole_number

log = logging.getLogger(__name__)
SCAN_MARGIN = dt.timedelta(minutes=2)  # clock skew allowance when learning ids of leads added since a time


# Settings of the bulk-job mechanism, in the schema of every vendor client that uses it.
BULK_SETTINGS: dict[str, str] = {
    "check_existing": "true/false: look each lead up by its key before adding it (default false)",
    "bulk_poll_seconds": "number ≥ 0: pause between bulk status polls (default 2)",
    "bulk_max_polls": "integer ≥ 1: polls before giving up on a bulk import (default 60)",
    "bulk_error_index_base": "0 or 1: how the vendor numbers bulk rows in its error list (default 0)",
    "resolve_bulk_lead_ids": "true/false: learn the vendor's ids of bulk-added leads (default true)",
}
BULK_CHECKS: dict[str, Callable[[Any], str]] = {
    "check_existing": boolean, "resolve_bulk_lead_ids": boolean, "bulk_error_index_base": one_of(0, 1),
    "bulk_max_polls": whole_number(1, 10_000),
    "bulk_poll_seconds": lambda v: "" if isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v <= 300
    else f"{v!r} is not a number of seconds between 0 and 300.",
}
UNANSWERED = "posted:"          # call_ref of items posted whose answer has not come (yet)
_WALK_RESUME: dict[tuple[str, str], dt.datetime] = {}  # (base URL, remote ref) -> where the next id walk may start


class BulkJobClient(VendorClient):
    """A vendor whose batch add is an asynchronous bulk job. :meth:`push_jobs` does, for any such
    vendor: a lone item goes by the single add; more are posted once as a job whose id is tied to
    them (``fix_call_ref``) the moment the vendor accepts it, since they exist from then on; the
    job is polled to its end and its error pages mapped to rows; rows without an error are
    accepted, and the vendor's ids for them learnt. A retry resumes the job it was part of
    (never posting its items again); items whose post went unanswered (``posted:<random>``) are
    looked up first and only those the vendor lacks are posted.

    The vendor module provides the calls and words: :meth:`add_one`, :meth:`post_job`,
    :meth:`job_status`, :meth:`error_page`, :meth:`error_message`, :meth:`row_key`,
    :meth:`find_refs` and :meth:`added_since` (and ``job_done``/``job_failed``/``duplicate_words`` where
    its words differ).
    """

    # the words a job's status ends with, and those of an error entry that means "already there"
    job_done: ClassVar[set[str]] = {"completed", "complete", "done", "finished", "processed", "success", "succeeded",
                                    "completed_with_errors", "partial", "partially_completed"}
    job_failed: ClassVar[set[str]] = {"failed", "failure", "error", "errored", "cancelled", "canceled", "aborted"}
    duplicate_words: ClassVar[tuple[str, ...]] = ("already exists", "already been taken", "duplicate")
    sleep = staticmethod(time.sleep)      # tests may replace it

    def send_items(self, operation: str, ready: list[tuple[Item, Any]]):
        return self.push_jobs(ready) if operation == "push" else super().send_items(operation, ready)

    def push_jobs(self, ready: list[tuple[Item, Any]]) -> list[ItemResult]:
        payloads = {item.id: payload for item, payload in ready}
        results: list[ItemResult] = []
        for ref, unit in by_request(ready).items():
            if ref and not ref.startswith(UNANSWERED):          # in a job accepted earlier: resume it
                results += self._job_results(ref, [item for item, _ in unit], None)
        items = [item for item, _ in ready]
        todo = [i for i in items if not i.call_ref]
        if todo and self.setting("check_existing", False):
            todo = self._skip_existing(todo, results)
        unanswered = [i for i in items if i.call_ref.startswith(UNANSWERED)]
        if unanswered:   # posted before, the answer never came: the vendor may hold them
            todo += self._skip_existing(unanswered, results)
        if todo:
            self.fix_call_ref(todo, UNANSWERED + uuidlib.uuid4().hex)
        if len(todo) == 1:
            try:
                results.append(self.add_one(todo[0], payloads[todo[0].id]))
            except VendorError as error:
                results += self.fail_all(todo, error)
        for start in range(0, len(todo) if len(todo) > 1 else 0, self.max_batch):
            chunk = todo[start:start + self.max_batch]
            results += self._post(chunk, [payloads[i.id] for i in chunk])
        return results

    def _skip_existing(self, items: list[Item], results: list[ItemResult]) -> list[Item]:
        """The items the vendor does not hold yet; the others are accepted as duplicates."""
        remaining = []
        for n, item in enumerate(items):
            try:
                ref = self.existing_ref(item)
            except VendorError as error:
                if error.permanent:
                    return remaining + items[n:]   # cannot check; add as usual
                results += self.fail_all(items[n:], error)
                return remaining
            if ref is None:
                remaining.append(item)
            else:
                results.append(ItemResult(item.id, ACCEPTED, ref, "duplicate",
                                          "The vendor already holds a lead with this key in the list."))
        return remaining

    def _post(self, items: list[Item], payloads: list[Any]) -> list[ItemResult]:
        started = dt.datetime.now(dt.timezone.utc)
        try:
            response = self.post_job(payloads)
        except VendorError as error:
            return self.fail_all(items, error)
        if response.status_code >= 300:
            return [self.item_result(item, response) for item in items]
        body = self.json_or_none(response)
        body = body if isinstance(body, dict) else {}
        job = str(body.get("uuid") or "")
        if not job:
            return self.fail_all(items, VendorError(
                f"{self.label} accepted the bulk import but gave no uuid: {self.redact(response.text[:200])}",
                permanent=False, code="vendor_unavailable", http_status=response.status_code))
        self.fix_call_ref(items, job)      # the items exist at the vendor now: never post them again
        posted_in = self.last_exchange()
        results = self._job_results(job, items, started, str(body.get("status") or ""))
        for result in results:
            result.sent_in = posted_in
        return results

    def _job_results(self, job: str, items: list[Item], started: dt.datetime | None,
                     status: str = "") -> list[ItemResult]:
        """Poll ``job`` to its end and read its errors: one result per item. ``items`` may be what
        is left of the job (a resumed one), each at its ``call_index``."""
        status, error = poll(lambda: self.job_status(job), finished=self.job_done | self.job_failed,
                             polls=int(self.setting("bulk_max_polls", 60)),
                             pause=float(self.setting("bulk_poll_seconds", 2)), sleep=self.sleep,
                             what=f"Bulk import {job}", status=status)
        polled_in = self.last_exchange()
        if error is not None:
            return self.fail_all(items, error)
        positions = [i.call_index if i.call_index is not None else n for n, i in enumerate(items)]
        pages_of: dict[int, int] = {}           # position -> the errors page (exchange) that named it
        errors = self._job_errors(job, items, positions, pages_of)
        if errors is None:        # could not read the errors: we cannot tell who failed
            return self.fail_all(items, VendorError(
                f"Could not read the errors of bulk import {job}.", permanent=False, code="vendor_unavailable"))
        failed_job = status in self.job_failed
        results: list[ItemResult] = []
        need_ids: dict[str, list[int]] = {}
        for n, (item, position) in enumerate(zip(items, positions)):
            message = errors.get(position)
            if message is not None and any(w in message.lower() for w in self.duplicate_words):
                results.append(ItemResult(item.id, ACCEPTED, "", "duplicate", message))
            elif message is not None:
                results.append(ItemResult(item.id, REJECTED, "", "invalid", message))
            elif failed_job:
                results.append(ItemResult(item.id, RETRY, "", "vendor_unavailable",
                                          f"Bulk import {job} ended {status!r} without an error for this lead."))
            else:
                results.append(ItemResult(item.id, ACCEPTED))
            if results[-1].status == ACCEPTED:
                need_ids.setdefault(self.row_key(item), []).append(n)
            results[-1].decided_by = pages_of.get(position, polled_in)
        if need_ids and self.setting("resolve_bulk_lead_ids", True):
            since = (started or dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=1)) - SCAN_MARGIN
            found = self.learn_ids(set(need_ids), since)
            for key, numbers in need_ids.items():
                ref = found.get(key)
                if ref is None and any(results[n].code == "duplicate" for n in numbers):
                    ref = self.lookup_ref(key) or None
                for n in numbers if ref is not None else ():
                    results[n].remote_ref = str(ref)
        if failed_job:    # the vendor says the job failed: the retry is a new job
            self.fix_call_ref([i for i, r in zip(items, results) if r.status == RETRY], "")
        accepted = sum(r.status == ACCEPTED for r in results)
        log.info("%s bulk %s: %d accepted, %d not", self.kind, job, accepted, len(results) - accepted)
        return results

    def _job_errors(self, job: str, items: list[Item], positions: list[int],
                    pages_of: dict[int, int]) -> dict[int, str] | None:
        """{position in the job as posted: the vendor's message} from every page of its errors (None
        when a page cannot be read); ``pages_of`` gets {position: the exchange (page) that named it}."""
        keys: dict[str, list[int]] = {}
        for item, position in zip(items, positions):
            keys.setdefault(self.row_key(item), []).append(position)
        size = max([len(items)] + [i.call_size or 0 for i in items])   # the job as posted
        base = int(self.setting("bulk_error_index_base", 0))
        out: dict[int, str] = {}
        try:
            for body in pages(lambda link, page_no: self.error_page(job, link, page_no), self.base_url,
                              max_pages=max(3, math.ceil(size / 5) + 2)):
                for position, entry in error_rows(body.get("errorList"), keys, base, size):
                    message = self.redact(self.error_message(entry)) or "Rejected by the vendor (no reason given)."
                    if position is None:
                        log.warning("%s bulk %s: an error could not be matched to a lead: %s", self.kind, job,
                                    message[:200])
                        continue
                    out[position] = f"{out[position]}; {message}" if position in out else message
                    pages_of[position] = self.last_exchange()
        except Unreadable:
            return None
        return out

    # ---- what the vendor module provides --------------------------------------------
    def add_one(self, item: Item, payload: Any) -> ItemResult:
        raise NotImplementedError

    def post_job(self, payloads: list[Any]) -> requests.Response:
        """Post the job; a 2xx answer is a JSON object with the job's ``uuid`` and ``status``."""
        raise NotImplementedError

    def job_status(self, job: str) -> str:
        """The job's status (lower case); raises a permanent VendorError when the vendor refuses."""
        raise NotImplementedError

    def error_page(self, job: str, link: str | None, page_no: int | None) -> requests.Response:
        raise NotImplementedError

    def error_message(self, entry: Any) -> str:
        """An entry of the job's error list as the vendor's words."""
        if isinstance(entry, dict):
            return error_words(entry) or flatten_errors({k: v for k, v in entry.items()
                                                         if k not in ("customerKey", "index", "row")})
        return flatten_errors(entry)

    def item_result(self, item: Item, response: requests.Response) -> ItemResult:
        """A non-2xx answer about one item as its result."""
        raise NotImplementedError

    def row_key(self, item: Item) -> str:
        """The key an error entry may name a row by (and the vendor finds the lead by)."""
        raise NotImplementedError

    def find_refs(self, key: str) -> list[str]:
        """The vendor's ids of the leads it holds with ``key``, oldest first."""
        raise NotImplementedError

    def existing_ref(self, item: Item) -> str | None:
        """The vendor's id for ``item`` when it holds it already, else None."""
        refs = self.find_refs(self.row_key(item))
        return refs[0] if refs else None

    def lookup_ref(self, key: str) -> str:
        """The vendor's id for the lead with ``key``; "" when unknown or the lookup fails."""
        try:
            refs = self.find_refs(key)
        except VendorError:
            return ""
        return refs[-1] if refs else ""

    def added_since(self, since: dt.datetime) -> Iterator[tuple[str, Any, str | None]]:
        """(key, the vendor's id, when it was added as ISO text) of each lead added since ``since``."""
        raise NotImplementedError

    def learn_ids(self, wanted: set[str], since: dt.datetime) -> dict[str, Any]:
        """key -> the vendor's id for the ``wanted`` keys among the leads added since ``since`` (the
        newest wins). Jobs sent one after another to one destination would each re-read every lead of
        the last minutes: the walk starts instead where this process's previous complete walk ended
        (the newest time it saw, minus a second)."""
        mark = (self.base_url, self.remote_ref)
        since = max(since, _WALK_RESUME.get(mark, since))
        found: dict[str, Any] = {}
        newest = None
        try:
            for key, ref, added in self.added_since(since):
                if key in wanted and ref is not None:
                    found[key] = ref
                if isinstance(added, str):
                    newest = max(newest or added, added)
        except VendorError as error:
            log.info("%s: could not learn the ids of bulk-added leads (%s)", self.kind, error.code)
        if newest and len(found) == len(wanted):
            try:
                _WALK_RESUME[mark] = dt.datetime.fromisoformat(newest.replace("Z", "+00:00")) - dt.timedelta(seconds=1)
            except ValueError:
                pass
        return found
