"""Staff UI for the lead domain, built to stay fast on millions of leads.

One module a concern: :mod:`.leads` (the lead list and page), :mod:`.campaigns` (campaigns, lead
lists, partners), :mod:`.imports` (CSV import jobs), :mod:`.dnc`, :mod:`.records` (bulk actions,
erasures, the audit log); :mod:`.common` holds what they share.

Another app adds to the lead and campaign pages only through :func:`extend` (an
:class:`AdminExtension`, read per request); ``campaigns`` never imports it.
"""
from . import campaigns, dnc, imports, leads, records  # noqa: F401  (each registers its pages)
from .common import run_bulk
from .extensions import EXTENSIONS, AdminExtension, extend

# The API keys' admin lives with the partner API and registers itself on import.
from ..api import admin as _api_admin  # noqa: F401,E402

__all__ = ["EXTENSIONS", "AdminExtension", "extend", "run_bulk"]
