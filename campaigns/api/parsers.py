"""The API's JSON parser: DRF's, with a body nested too deeply refused as bad JSON.

Python's JSON decoder recurses once per level and gives up with RecursionError
(not ValueError) at a few hundred levels, which DRF would let through as a 500.
No LeadHub body is more than four levels deep (bulk -> leads -> lead -> metadata),
so such a body is answered like any other unreadable JSON: 400 ``parse_error``.
"""
from __future__ import annotations

from rest_framework import parsers
from rest_framework.exceptions import ParseError

TOO_DEEP = ("JSON nested too deeply: a LeadHub request body is at most four levels deep "
            "(metadata is an object of strings).")


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(TOO_DEEP)
