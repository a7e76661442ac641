"""Cursor paging of the lead list, with a cursor a generated client can use as it is.

A page answers ``next_cursor`` / ``previous_cursor``: opaque strings that carry the
position *and* the listing's filters and page size, so ``GET /api/v1/leads/?cursor=…``
alone gives the next page of the same listing (``next`` / ``previous`` are the same
thing as full URLs). A filter sent again with a cursor must have the value the cursor
carries; a different one is a 400 (start a new listing without a cursor to change it).

``page_size`` is 1 to 1,000 (default 100); anything else is a 400, never quietly changed.
A cursor that is not one of ours (truncated, edited, made up) is a 400 on ``cursor``.
"""
from __future__ import annotations

import base64
import binascii
import json
from urllib.parse import parse_qs, urlencode, urlsplit

from rest_framework.pagination import Cursor, CursorPagination
from rest_framework.response import Response

from .exceptions import field_error

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000

PAGING_EXAMPLE = """
**Paging to the end.** Ask for the first page with the filters you want, then send
`cursor=<next_cursor>` alone until `next_cursor` is null:

    GET /api/v1/leads/?campaign=solar-us&status=new&page_size=2
    -> {"next_cursor": "eyJvIjowLCJ...", "previous_cursor": null, "next": "https://…/api/v1/leads/?cursor=eyJvIjowLCJ...",
        "previous": null, "results": [{"id": 912, …}, {"id": 911, …}]}
    GET /api/v1/leads/?cursor=eyJvIjowLCJ...
    -> {"next_cursor": null, "previous_cursor": "eyJvIjowLCJ...", …, "results": [{"id": 907, …}]}

The cursor is opaque: do not build or edit it. It keeps the listing's filters and page size.
"""


class LeadCursorPagination(CursorPagination):
    ordering = "-id"  # positions are lead ids
    page_size = DEFAULT_PAGE_SIZE
    page_size_query_param = "page_size"
    max_page_size = MAX_PAGE_SIZE
    # what a cursor carries besides the position: the listing's own parameters
    listing_params = ("campaign", "status", "created_after", "created_before", "phone", "page_size")
    invalid_cursor = "Invalid cursor: send next_cursor or previous_cursor exactly as a page gave it."

    # --- the listing's parameters --------------------------------------------------------

    def listing(self, request) -> dict[str, str]:
        """The listing's filters and page size: as sent, or as the cursor carries them."""
        cached = getattr(request, "_lead_listing", None)
        if cached is not None:
            return cached
        sent = {name: request.query_params[name] for name in self.listing_params if name in request.query_params}
        token = request.query_params.get(self.cursor_query_param)
        if token is None:
            request._lead_cursor, listing = None, sent
        else:
            request._lead_cursor, listing = self._decode(token)
            changed = sorted(name for name, value in sent.items() if listing.get(name) != value)
            if changed:
                raise field_error(self.cursor_query_param, "invalid_field", (
                    f"This cursor continues a listing with other {', '.join(changed)}. Send the cursor alone, "
                    "or start a new listing without a cursor to change the filters."))
        request._lead_listing = listing
        return listing

    def get_page_size(self, request) -> int:
        raw = self.listing(request).get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        if not raw.strip().isdigit() or not 1 <= int(raw) <= self.max_page_size:
            raise field_error(self.page_size_query_param, "invalid_field",
                              f"page_size must be a whole number from 1 to {self.max_page_size:,}; got {raw!r}.")
        return int(raw)

    # --- the cursor ------------------------------------------------------------------------

    def decode_cursor(self, request):
        self.listing(request)
        return request._lead_cursor

    def _decode(self, token: str) -> tuple[Cursor, dict[str, str]]:
        try:
            data = json.loads(base64.urlsafe_b64decode(token.encode("ascii") + b"=" * (-len(token) % 4)))
        except (UnicodeError, binascii.Error, ValueError):
            data = None
        if not isinstance(data, dict):
            raise field_error(self.cursor_query_param, "invalid_field", self.invalid_cursor)
        offset, reverse, position, query = data.get("o"), data.get("r"), data.get("p"), data.get("q")
        valid = (
            type(offset) is int and 0 <= offset <= self.offset_cutoff
            and type(reverse) is bool
            and (position is None or (isinstance(position, str) and position.isdigit() and len(position) <= 18))
            and isinstance(query, dict) and set(query) <= set(self.listing_params)
            and all(isinstance(v, str) for v in query.values())
        )
        if not valid:
            raise field_error(self.cursor_query_param, "invalid_field", self.invalid_cursor)
        return Cursor(offset=offset, reverse=reverse, position=position), query

    def token(self, cursor: Cursor) -> str:
        data = {"o": cursor.offset, "r": cursor.reverse, "p": cursor.position, "q": self.listing(self.request)}
        raw = json.dumps(data, separators=(",", ":"), sort_keys=True).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")

    def encode_cursor(self, cursor: Cursor) -> str:
        """The URL of a page: this endpoint and the cursor alone (it carries the rest)."""
        url = urlsplit(self.base_url)
        return url._replace(query=urlencode({self.cursor_query_param: self.token(cursor)})).geturl()

    @staticmethod
    def _token_in(link: str | None) -> str | None:
        return parse_qs(urlsplit(link).query)["cursor"][0] if link else None

    # --- the page --------------------------------------------------------------------------

    def get_paginated_response(self, data):
        next_link, previous_link = self.get_next_link(), self.get_previous_link()
        return Response({
            "next_cursor": self._token_in(next_link),
            "previous_cursor": self._token_in(previous_link),
            "next": next_link,
            "previous": previous_link,
            "results": data,
        })

    def get_paginated_response_schema(self, schema):
        cursor = {"type": "string", "nullable": True, "example": "eyJvIjowLCJwIjoiOTA4IiwicSI6e30sInIiOmZhbHNlfQ"}
        link = {"type": "string", "nullable": True, "format": "uri",
                "example": "https://leadhub.example.com/api/v1/leads/?cursor=eyJvIjowLCJwIjoiOTA4IiwicSI6e30sInIiOmZhbHNlfQ"}
        return {
            "type": "object",
            "required": ["next_cursor", "previous_cursor", "next", "previous", "results"],
            "properties": {
                "next_cursor": {**cursor, "description": "Opaque. Send it as `cursor` (alone) for the next page; "
                                                          "null on the last page."},
                "previous_cursor": {**cursor, "description": "Opaque. Send it as `cursor` for the page before; "
                                                              "null on the first page."},
                "next": {**link, "description": "The next page as a full URL (the same cursor); null on the last page."},
                "previous": {**link, "description": "The page before as a full URL; null on the first page."},
                "results": schema,
            },
        }

    def get_schema_operation_parameters(self, view):
        return [
            {"name": self.cursor_query_param, "required": False, "in": "query", "schema": {"type": "string"},
             "description": ("Opaque: a `next_cursor` or `previous_cursor` exactly as a page gave it. It carries "
                             "the listing's filters and page size, so send it alone (the same filters again are "
                             "allowed; different ones are a 400).")},
            {"name": self.page_size_query_param, "required": False, "in": "query",
             # no "default" keyword: generated clients would send it with every cursor
             "schema": {"type": "integer", "minimum": 1, "maximum": self.max_page_size},
             "description": f"Leads per page, 1 to {self.max_page_size:,} (default {self.page_size}); "
                            "other values are a 400."},
        ]
