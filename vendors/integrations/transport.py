"""The HTTP plumbing under every vendor client: one ``requests.Session`` per thread, secrets kept out
of the HTTP library's logs, and ``Retry-After`` read. ``VendorClient.send`` (base.py) is its one user."""
from __future__ import annotations

import datetime as dt
import email.utils
import logging
import os
import threading
import urllib.request
from urllib.parse import quote, quote_plus

import requests
from requests.adapters import HTTPAdapter


# -- secrets never reach a log -------------------------------------------------
# urllib3 logs each request line (path and query) at DEBUG; some vendors put secrets
# there (a token in the path, a ?key= query). Every client registers
# its secrets here and a filter on the HTTP library's loggers replaces them.
known_secrets: set[str] = set()
known_lock = threading.Lock()


def secret_forms(value: str) -> set[str]:
    return {value, quote(value, safe=""), quote_plus(value)}


def redact_known(text: str) -> str:
    with known_lock:
        secrets = sorted(known_secrets, key=len, reverse=True)
    for value in secrets:
        if value in text:
            text = text.replace(value, "***")
    return text


class RedactSecretsFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not known_secrets:
            return True
        if record.args:
            args = record.args if isinstance(record.args, tuple) else (record.args,)
            record.args = tuple(redact_known(a) if isinstance(a, str) else a for a in args)
        if isinstance(record.msg, str):
            record.msg = redact_known(record.msg)
        return True


_redact_filter = RedactSecretsFilter()
for _name in ("urllib3.connectionpool", "urllib3.util.retry", "requests"):
    if not any(isinstance(f, RedactSecretsFilter) for f in logging.getLogger(_name).filters):
        logging.getLogger(_name).addFilter(_redact_filter)


# -- one requests.Session per process (per thread: Session is not thread-safe) --
_local = threading.local()


def http_session() -> requests.Session:
    session = getattr(_local, "session", None)
    if session is None:
        session = requests.Session()
        adapter = HTTPAdapter(pool_connections=20, pool_maxsize=20, max_retries=0)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        session.headers["User-Agent"] = "LeadHub/1.0"
        if not urllib.request.getproxies():
            # With ``trust_env`` requests scans the whole environment for proxy settings on every
            # request (a tenth of a single-item vendor's worker CPU) and adds credentials from
            # ~/.netrc to requests that carry none. Without a proxy configured, the CA bundle is
            # read from the environment once here and ~/.netrc is never read. With one (HTTP(S)_PROXY,
            # NO_PROXY), requests keeps reading them per request.
            session.trust_env = False
            session.verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
        _local.session = session
    return session


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return max(0.0, (when - dt.datetime.now(dt.timezone.utc)).total_seconds())


def register_secrets(values: list[str]) -> None:
    """Have the log filter replace these values (raw and URL-encoded) from now on."""
    with known_lock:
        for value in values:
            if len(value) >= 4:
                known_secrets.update(secret_forms(value))
