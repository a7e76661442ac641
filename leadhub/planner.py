"""Moved to :func:`leadhub.dbtools.planner`; this name goes once its last importers move."""
from leadhub.dbtools import planner  # noqa: F401
