"""Moved to :mod:`leadhub.dbtools` (``copy_rows``); this name goes once its last importers move."""
from leadhub.dbtools import column_types, copy_rows  # noqa: F401
