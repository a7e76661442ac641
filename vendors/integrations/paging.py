"""Paged answers and polled jobs, written once for any vendor that has them.

A job is polled until it ends (:func:`poll`); a paged answer is read page by page
(:func:`pages`, by link or page number); a collection is walked by cursor (:func:`walk_cursor`).
These never send anything themselves: they are handed the vendor's calls.
"""
from __future__ import annotations

import logging
from typing import Any, Callable, Iterator
from urllib.parse import urljoin, urlsplit

import requests

from .base import VendorClient, VendorError

log = logging.getLogger(__name__)


class Unreadable(Exception):
    """A page could not be read, so what the pages say cannot be known."""


def poll(get_status: Callable[[], str], *, finished: set[str], polls: int, pause: float,
         sleep: Callable[[float], None], what: str, status: str = "") -> tuple[str, VendorError | None]:
    """Call ``get_status`` until it answers one of ``finished``: (that status, None), or ("", the
    error) when the vendor refuses (a permanent error) or ``polls`` run out. Transient failures of
    one poll are polled again."""
    last_error: VendorError | None = None
    for n in range(polls):
        if pause and n:
            sleep(pause)
        try:
            status = get_status()
        except VendorError as error:
            if error.permanent:
                return "", error
            last_error = error
            continue
        if status in finished:
            return status, None
    detail = f" (last error: {last_error.message})" if last_error else ""
    return "", VendorError(f"{what} was still {status or 'unfinished'!r} after {polls} polls{detail}; "
                           "its leads may appear at the vendor later.", permanent=False, code="timeout",
                           retry_after=last_error.retry_after if last_error else None)


def same_origin(base_url: str, link: str) -> str | None:
    """A vendor-given link as an absolute URL, or None when it leaves the account's host (the
    credentials are never sent anywhere else)."""
    absolute = urljoin(base_url + "/", link)
    ours, theirs = urlsplit(base_url), urlsplit(absolute)
    return absolute if (ours.scheme, ours.netloc) == (theirs.scheme, theirs.netloc) else None


def pages(fetch: Callable[[str | None, int | None], requests.Response], base_url: str, *,
          max_pages: int) -> Iterator[dict]:
    """Every page (a JSON object) of a paged answer. ``fetch(link, page_no)`` GETs one page: the
    first with neither, then by ``nextPageLink`` (followed on the account's own host only), or by
    ``pageNo`` + 1 while below ``totalPages`` for a vendor that never sends a link (0- or 1-based).
    A 404 ends the walk (nothing recorded); a failed call or another error status raises
    :class:`Unreadable`."""
    link: str | None = None
    page_no = first_page = None
    uses_links = False
    for _ in range(max_pages):
        try:
            response = fetch(link, page_no)
        except VendorError:
            raise Unreadable from None
        if response.status_code == 404:
            return
        body = VendorClient.json_or_none(response) if response.status_code < 300 else None
        if not isinstance(body, dict):
            raise Unreadable
        yield body
        number, total, next_link = body.get("pageNo"), body.get("totalPages"), body.get("nextPageLink")
        if first_page is None and isinstance(number, int):
            first_page = number
        uses_links = uses_links or "nextPageLink" in body
        if isinstance(next_link, str) and next_link.strip():
            link = same_origin(base_url, next_link.strip())
            if link is None:
                log.warning("not following a nextPageLink to another host")
                return
            continue
        if (not uses_links and isinstance(number, int) and isinstance(total, int) and first_page is not None
                and number - first_page + 1 < total):
            page_no, link = number + 1, None
            continue
        return


def walk_cursor(get_page: Callable[[dict | None], Any], params: dict, *, max_pages: int) -> Iterator[dict]:
    """Every item of a cursor-paged collection (``{metadata: {nextCursor}, items: [...]}``; the
    cursor is also read from ``next_cursor`` or ``next``). ``get_page(query)`` returns a page's body."""
    cursor = None
    for _ in range(max_pages):
        query = dict(params)
        if cursor:
            query["cursor"] = cursor
        body = get_page(query or None)
        items = body.get("items") if isinstance(body, dict) else None
        yield from (i for i in (items or []) if isinstance(i, dict))
        meta = body.get("metadata") if isinstance(body, dict) else None
        meta = meta if isinstance(meta, dict) else {}
        nxt = meta.get("nextCursor") or meta.get("next_cursor") or meta.get("next")
        if not nxt or nxt == cursor or not items:
            return
        cursor = str(nxt)
