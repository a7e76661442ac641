"""The contract every vendor client implements, and the one place that does HTTP.

A client is built for one destination (a campaign at one vendor account):

    client = registry.client_for(destination)
    results = client.push(items)          # one ItemResult per item, same order

A client never raises for one bad item: it returns a ``rejected`` (terminal)
or ``retry`` (transient) result for it. It raises :class:`VendorError` only
when the whole call failed, and ``permanent`` says whether retrying can help.
Transient vs permanent is decided in :meth:`VendorClient.send`, the only method
that touches the network. Every exchange is kept in ``client.exchanges`` with
secrets removed, for the pipeline to store as delivery attempts.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Iterable

import requests

from campaigns.requirements import PHONE, Requirement

from .transport import http_session, parse_retry_after, register_secrets, secret_forms

if TYPE_CHECKING:  # pragma: no cover
    from campaigns.models import Lead
    from vendors.models import Destination, VendorAccount

log = logging.getLogger(__name__)

ACCEPTED, REJECTED, RETRY, UNSUPPORTED = "accepted", "rejected", "retry", "unsupported"
TRANSIENT_STATUSES = {408, 425, 429, 500, 502, 503, 504}
# withdrawal operation -> what a vendor without it lacks ("<label> has no API for …")
WITHDRAWAL_WORDS = {"end_contact": "stop contacting a lead", "dnc": "a do-not-call list", "erase": "erasing a person"}
EXCERPT_CHARS = 500


@dataclass(frozen=True)
class CallingWindow:
    """When a lead may be called, in its own local time."""

    days: tuple[str, ...]          # ("mon", "tue", ...)
    start: dt.time
    end: dt.time
    time_zone: str                 # IANA id, e.g. "America/Chicago"


@dataclass
class Item:
    """One unit of work for a vendor: a lead and what the pipeline knows about it."""

    id: int                                  # the Delivery id; opaque to the client
    lead: "Lead"
    remote_ref: str = ""                     # the vendor's id for this lead from an earlier push
    idempotency_key: str = ""                # stable across retries of the same delivery
    window: CallingWindow | None = None      # for vendors that schedule on their side
    contact_at: dt.datetime | None = None    # earliest contact time (aware); None means now
    # the request that first carried this item, as the vendor knows it (see VendorClient.fix_call_ref)
    call_ref: str = ""
    call_index: int | None = None
    call_size: int | None = None


@dataclass
class ItemResult:
    item_id: int
    status: str                       # accepted | rejected | retry | unsupported
    remote_ref: str = ""              # the vendor's id for the item
    code: str = ""                    # normalised: duplicate, invalid, not_found, rate_limited, ...
    message: str = ""                 # the vendor's words, secrets removed
    http_status: int | None = None
    retry_after: float | None = None  # seconds, when the vendor said
    # positions in client.exchanges of the request that carried the item and of the exchange
    # that decided it; None: the pipeline takes the last exchange of the item's call
    sent_in: int | None = None
    decided_by: int | None = None


@dataclass
class CallOutcome:
    """What a vendor's dialler has done with a lead it holds (``VendorClient.outcomes``)."""

    item_id: int
    completed: bool | None = None     # the vendor will not call the lead again
    status_code: str = ""             # the vendor's last status code, as text
    status_description: str = ""      # and its words for it
    outcome_type: str = ""            # the vendor's kind of outcome (e.g. preview, dialler)
    error: "ItemResult | None" = None  # the read failed: why (nothing else is set)


@dataclass
class ConnectionReport:
    ok: bool
    message: str
    http_status: int | None = None
    checked_call: str = ""            # which request was made ("" if none)


@dataclass
class Exchange:
    """One HTTP request/response, secrets removed; stored as a DeliveryAttempt."""

    method: str
    url: str
    started_at: dt.datetime
    duration_ms: int
    http_status: int | None
    excerpt: str
    error: str = ""


class VendorError(Exception):
    """The whole call failed. ``permanent``: retrying the same call cannot help."""

    def __init__(self, message: str, *, permanent: bool, http_status: int | None = None,
                 retry_after: float | None = None, code: str = "", body: str = ""):
        super().__init__(message)
        self.message = message
        self.permanent = permanent
        self.http_status = http_status
        self.retry_after = retry_after
        self.code = code or ("vendor_error" if permanent else "transient")
        self.body = body


class Unsendable(Exception):
    """An item this vendor cannot take as it is (``VendorClient.payload``): rejected before any request."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def utc_stamp(value: dt.datetime) -> str:
    """``2020-03-23T00:00:00Z``: UTC, whole seconds (naive values are taken as UTC)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class DemoSetup:
    """How ``seed_demo`` connects a vendor to the local sandbox (``vendors.demo``): an account
    whose base URL is the sandbox's ``/<kind>`` plus ``path``, and one destination."""

    campaign: str                    # which demo campaign: "solar" (US) or "cover" (UK/AU)
    path: str = ""                   # the vendor's API root under its sandbox prefix
    credentials: dict[str, str] = field(default_factory=dict)
    remote_ref: str = ""
    settings: dict[str, Any] = field(default_factory=dict)
    secret: str = ""


class VendorClient:
    """A vendor's contract. The class attributes describe the vendor to the rest of LeadHub
    (the registry, the admin's help texts, checks, the demo, the pipeline).

    The pipeline is fixed here, once (:meth:`run`): chunk per operation, check the set-up,
    build each item's payload (``payload``; :class:`Unsendable` rejects an item), send
    (``send_items``: by default one request per item, ``request`` then ``parse``), and give
    every item exactly one result. A whole-call failure (:class:`VendorError`) ends the
    call: the items not yet answered share its result and no further request is made.
    """

    kind: ClassVar[str] = ""                 # the registry key, stored in VendorAccount.kind
    label: ClassVar[str] = ""                # how staff and partners see the vendor
    seed: ClassVar[str] = ""                 # the seed file this client implements
    # the operations the vendor has a call for; the pipeline records the others ``unsupported``
    operations: ClassVar[tuple[str, ...]] = ("push",)
    max_batch: ClassVar[int] = 1             # items one push call carries (1 for single-item vendors)
    # items one call of another operation carries, where it differs from max_batch
    batch_sizes: ClassVar[dict[str, int]] = {}
    # True when the vendor takes the calling window / a start time and schedules
    # the call itself; False when LeadHub must hold the push until the window opens.
    schedules_calls: ClassVar[bool] = False
    needs_destination_secret: ClassVar[bool] = False
    secret_name: ClassVar[str] = "secret"    # what the destination's secret is, in "has no …" messages
    required_credentials: ClassVar[tuple[str, ...]] = ()
    remote_ref_label: ClassVar[str] = "Vendor campaign id"
    needs_remote_ref: ClassVar[bool] = False  # every call names the destination's remote_ref
    default_base_url: ClassVar[str] = ""
    # admin help: what the account's base URL is, and what the destination's secret holds
    base_url_help: ClassVar[str] = ""
    secret_help: ClassVar[str] = ""
    # the settings schema: each destination setting and what it means (validate_settings checks values)
    SETTINGS: ClassVar[dict[str, str]] = {}
    setting_checks: ClassVar[dict[str, Callable[[Any], str]]] = {}
    # vendors with campaign control (``set_campaign_status``): LeadHub campaign status -> the vendor's
    campaign_statuses: ClassVar[dict[str, str]] = {}
    demo: ClassVar[DemoSetup | None] = None  # None: seed_demo leaves the vendor out
    unchecked: ClassVar[str] = ""            # why check_connection sends nothing, where it does not

    @classmethod
    def lead_requirements(cls, settings: dict[str, Any]) -> list[Requirement]:
        """What a lead needs before this vendor can take it, for a destination with ``settings``
        (read from the vendor's seed). Intake checks a lead against the list of every enabled
        destination of its campaign (``campaigns.requirements``). The default: a phone number."""
        return [PHONE]

    def __init__(self, account: "VendorAccount", destination: "Destination | None" = None, *,
                 session: requests.Session | None = None, throttle: Callable[[], None] | None = None):
        self.account = account
        self.destination = destination
        self.credentials: dict[str, str] = dict(account.credentials or {})
        self.settings: dict[str, Any] = dict(destination.settings or {}) if destination else {}
        self.secret: str = (destination.secret or "") if destination else ""
        self.remote_ref: str = destination.remote_ref if destination else ""
        self.base_url = (account.base_url or self.default_base_url).rstrip("/")
        self.timeout = (min(5.0, float(account.timeout_seconds)), float(account.timeout_seconds))
        self.session = session or http_session()
        self.throttle = throttle
        self.exchanges: list[Exchange] = []
        # set by the pipeline: stores an item's call_ref before the vendor can act on the request
        self.on_call_ref: Callable[[list[Item]], None] | None = None
        register_secrets(self.secrets())

    # ---- what the vendor can do ---------------------------------------------
    @classmethod
    def supports(cls, operation: str) -> bool:
        """Whether the vendor has a call for ``operation`` (push, end_contact, dnc, erase). The
        pipeline records the others ``unsupported`` when it plans them, so staff and partners see
        at once which vendors cannot be told."""
        return operation in cls.operations

    @classmethod
    def unsupported_message(cls, operation: str) -> str:
        return f"{cls.label} has no API for {WITHDRAWAL_WORDS[operation]}."

    @classmethod
    def batch_size(cls, operation: str) -> int:
        """How many items one call of ``operation`` (push, end_contact, dnc, erase) carries."""
        return cls.batch_sizes.get(operation, cls.max_batch)

    @classmethod
    def chunks(cls, operation: str, items: list[Item]) -> list[list[Item]]:
        """Items in calls of about ``batch_size(operation)``, never splitting the items of one
        earlier request (one ``call_ref``): a retry is the same request to the vendor."""
        size = max(1, cls.batch_size(operation))
        units: dict[str | int, list[Item]] = {}
        for item in items:
            units.setdefault(item.call_ref or item.id, []).append(item)
        chunks: list[list[Item]] = []
        chunk: list[Item] = []
        for unit in units.values():
            if chunk and len(chunk) + len(unit) > size:
                chunks.append(chunk)
                chunk = []
            chunk += unit
        if chunk:
            chunks.append(chunk)
        return chunks

    @classmethod
    def reads_outcomes(cls) -> bool:
        return cls.outcomes is not VendorClient.outcomes

    @classmethod
    def validate_settings(cls, settings: dict[str, Any]) -> dict[str, str]:
        """Errors in a destination's ``settings`` as {key: message}; {} when valid: each key must be
        one of ``SETTINGS``, and pass its check in ``setting_checks`` (value -> problem, or "")."""
        if not isinstance(settings, dict):
            return {"settings": f"Must be a JSON object with any of: {', '.join(cls.SETTINGS)}."}
        errors = {}
        for key, value in settings.items():
            check = cls.setting_checks.get(key)
            problem = (f"Unknown {cls.label.split()[0]} setting; only known settings are accepted. Known settings: "
                       f"{', '.join(sorted(cls.SETTINGS))}."
                       if key not in cls.SETTINGS else check(value) if check else "")
            if problem:
                errors[key] = problem
        return errors

    def setting(self, key: str, default: Any) -> Any:
        """A destination setting, or ``default`` when it is absent or fails its check."""
        value = self.settings.get(key, default)
        check = self.setting_checks.get(key)
        return default if check is not None and check(value) else value

    # ---- the pipeline ---------------------------------------------------------
    def push(self, items: list[Item]) -> list[ItemResult]:
        return self.run("push", items)

    def end_contact(self, items: list[Item]) -> list[ItemResult]:
        return self.run("end_contact", items)

    def dnc(self, items: list[Item]) -> list[ItemResult]:
        return self.run("dnc", items)

    def erase(self, items: list[Item]) -> list[ItemResult]:
        return self.run("erase", items)

    def run(self, operation: str, items: list[Item]) -> list[ItemResult]:
        """One result per item, in order. Never raises for one item; a whole-call failure ends the
        call and the items not yet answered share its result."""
        if not self.supports(operation):
            return [ItemResult(i.id, UNSUPPORTED, code="unsupported", message=self.unsupported_message(operation))
                    for i in items]
        error = self.setup_error()
        results: dict[int, ItemResult] = {}
        for chunk in self.chunks(operation, items) if error is None else ():
            ready: list[tuple[Item, Any]] = []
            for item in chunk:
                try:
                    ready.append((item, self.payload(operation, item)))
                except Unsendable as exc:
                    results[item.id] = ItemResult(item.id, REJECTED, code=exc.code, message=exc.message)
            try:
                for result in self.send_items(operation, ready) if ready else ():
                    results[result.item_id] = result
            except VendorError as exc:
                error = exc
                break
        if error is not None:
            results.update((r.item_id, r) for r in self.fail_all([i for i in items if i.id not in results], error))
        return self.complete(items, results.values())

    @staticmethod
    def complete(items: list[Item], results: Iterable[ItemResult]) -> list[ItemResult]:
        """Exactly one result per item, in the items' order, whatever a client returned."""
        by_id = {r.item_id: r for r in results}
        return [by_id.get(i.id) or ItemResult(i.id, RETRY, code="no_result", message="The vendor client returned "
                                              "no result for this item.") for i in items]

    def setup_error(self, *, account_only: bool = False) -> VendorError | None:
        """What stops every call of this client (a credential, the base URL, the destination's
        secret or remote ref missing) as the permanent error each item gets; None when it can send."""
        missing = [k for k in self.required_credentials if not self.credentials.get(k)]
        if missing:
            return VendorError(f"This {self.label} account has no {', '.join(missing)} credential.",
                               permanent=True, code="unauthorized")
        if not self.base_url:
            return VendorError(f"This {self.label} account has no base URL: set {self.base_url_help}.",
                               permanent=True, code="invalid")
        if account_only or self.destination is None:
            return None
        if self.needs_destination_secret and not self.secret:
            return VendorError(f"This destination has no {self.label} {self.secret_name}; set its secret.",
                               permanent=True, code="unauthorized")
        if self.needs_remote_ref and not str(self.remote_ref).strip():
            return VendorError(f"This destination has no {self.remote_ref_label[0].lower()}{self.remote_ref_label[1:]} "
                               "(remote ref).", permanent=True, code="invalid")
        return None

    def payload(self, operation: str, item: Item) -> Any:
        """The payload hook: what the vendor is sent for ``item``. Raise :class:`Unsendable` when
        the item cannot meet the contract, so that no request carries it."""
        return None

    def send_items(self, operation: str, ready: list[tuple[Item, Any]]) -> Iterable[ItemResult]:
        """Send (item, payload) pairs and yield their results. The default: one call per item
        (``send_one``). Batch operations override this."""
        for item, payload in ready:
            first = len(self.exchanges)
            result = self.send_one(operation, item, payload)
            if result.sent_in is None and len(self.exchanges) > first:
                result.sent_in, result.decided_by = first, self.last_exchange()
            yield result

    def send_one(self, operation: str, item: Item, payload: Any) -> ItemResult:
        """One item's call and its result: ``request`` read by ``parse``, unless a vendor needs more."""
        return self.parse(operation, item, payload, self.request(operation, item, payload))

    def request(self, operation: str, item: Item, payload: Any) -> requests.Response:
        raise NotImplementedError

    def parse(self, operation: str, item: Item, payload: Any, response: requests.Response) -> ItemResult:
        """The reply hook: one answer as the item's result."""
        raise NotImplementedError

    def outcomes(self, items: list[Item]) -> list[CallOutcome]:
        """Read back what the vendor did with leads it holds (``items`` carry its ``remote_ref``).
        A client offers this by overriding it; ``vendors.outcomes`` calls it on a schedule."""
        raise NotImplementedError

    def check_connection(self) -> ConnectionReport:
        error = self.setup_error()
        if error is not None:
            return ConnectionReport(False, f"{error.message} Nothing was sent.")
        return ConnectionReport(True, self.unchecked or f"{self.label} offers no call that checks credentials "
                                                       "without changing data; nothing was sent.")

    # ---- helpers ------------------------------------------------------------
    def fix_call_ref(self, items: list[Item], ref: str) -> None:
        """Tie ``items`` to the request ``ref`` (an idempotency key, a bulk id), in request order.

        The pipeline stores it at once (``on_call_ref``), before the vendor can act on the
        request, so that a retry after a lost reply is the same request to the vendor
        however the retry is grouped.
        """
        for index, item in enumerate(items):
            item.call_ref, item.call_index, item.call_size = ref, index, len(items)
        if self.on_call_ref is not None:
            self.on_call_ref(items)

    def secrets(self) -> list[str]:
        values = [v for v in self.credentials.values() if isinstance(v, str) and v]
        if self.secret:
            values.append(self.secret)
        return sorted(set(values), key=len, reverse=True)

    def redact(self, text: str) -> str:
        """Replace this client's secrets (raw and URL-encoded) with ***."""
        for value in self.secrets():
            if len(value) >= 4:
                for form in sorted(secret_forms(value), key=len, reverse=True):
                    text = text.replace(form, "***")
        return text

    def url(self, path: str) -> str:
        if path.startswith(("http://", "https://")):   # a link the vendor gave, checked by the caller
            return path
        return f"{self.base_url}/{path.lstrip('/')}"

    def send(self, method: str, path: str, *, json_body: Any = None, params: dict | None = None,
             headers: dict | None = None, auth: tuple[str, str] | None = None,
             data: bytes | str | None = None) -> requests.Response:
        """Make one HTTP call. Returns the response for any status the client must read
        (2xx and 4xx); raises a transient VendorError for timeouts, connection errors,
        408/425/429 and 5xx (with Retry-After), and a permanent one for 401/403."""
        if self.throttle:
            self.throttle()
        url = self.url(path)
        started = dt.datetime.now(dt.timezone.utc)
        t0 = time.perf_counter()
        body = data
        req_headers = dict(headers or {})
        if json_body is not None:
            body = json.dumps(json_body, separators=(",", ":"))
            req_headers.setdefault("Content-Type", "application/json")
        try:
            response = self.session.request(method, url, data=body, params=params, headers=req_headers,
                                            auth=auth, timeout=self.timeout)
        except requests.Timeout:
            self._record(method, url, started, t0, None, "", f"timeout after {self.account.timeout_seconds}s")
            raise VendorError(f"{self.label} did not answer within {self.account.timeout_seconds}s.",
                              permanent=False, code="timeout") from None  # the cause's text holds the URL
        except requests.RequestException as exc:
            reason = self.redact(type(exc).__name__)
            self._record(method, url, started, t0, None, "", f"connection error: {reason}")
            raise VendorError(f"Could not reach {self.label}: {reason}.", permanent=False,
                              code="connection_error") from None  # the cause's text holds the URL
        text = response.text
        self._record(method, response.request.url or url, started, t0, response.status_code, text)
        status = response.status_code
        if status in TRANSIENT_STATUSES:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            code = "rate_limited" if status == 429 else "vendor_unavailable"
            raise VendorError(f"{self.label} answered HTTP {status}: {self.redact(text[:200])}".strip(),
                              permanent=False, http_status=status, retry_after=retry_after, code=code,
                              body=self.redact(text[:EXCERPT_CHARS]))
        if status in (401, 403):
            raise VendorError(f"{self.label} refused the credentials (HTTP {status}).", permanent=True,
                              http_status=status, code="unauthorized", body=self.redact(text[:EXCERPT_CHARS]))
        return response

    def _record(self, method, url, started, t0, status, text, error=""):
        self.exchanges.append(Exchange(
            method=method, url=self.redact(url), started_at=started,
            duration_ms=int((time.perf_counter() - t0) * 1000), http_status=status,
            excerpt=self.redact(text[:EXCERPT_CHARS]), error=error,
        ))

    @staticmethod
    def json_or_none(response: requests.Response) -> Any:
        try:
            return response.json()
        except ValueError:
            return None

    def last_exchange(self) -> int | None:
        """The position of the latest exchange, for ItemResult.sent_in / decided_by."""
        return len(self.exchanges) - 1 if self.exchanges else None

    def fail_all(self, items: list[Item], error: VendorError) -> list[ItemResult]:
        """Turn a whole-call failure into one result per item."""
        status = REJECTED if error.permanent else RETRY
        return [ItemResult(i.id, status, code=error.code, message=error.message,
                           http_status=error.http_status, retry_after=error.retry_after) for i in items]
