"""The one way ``campaigns`` learns about deliveries: a documented hook.

``campaigns`` never imports ``vendors``: the dependency points the other way. The app
that delivers leads registers a :class:`Pipeline` here in its ``AppConfig.ready``
(``vendors.apps``), and everything in ``campaigns`` that shows deliveries asks
:func:`get`: the partner API (a lead's deliveries, its withdrawal outcomes, the
document's enums), the withdrawal reports, the lead form, ``seed_demo``. Without a
registered pipeline (the delivery app not installed) a lead has no deliveries and
``get()`` answers None; there is no other fallback, so a broken pipeline fails loudly.

The lead and campaign admin pages are extended the same way, through
``campaigns.admin.extend`` (an :class:`~campaigns.admin.AdminExtension`).
"""
from __future__ import annotations

from typing import Any, Protocol

from django.db.models import QuerySet


class Pipeline(Protocol):
    def deliveries(self) -> QuerySet:
        """Every delivery row (lead × destination × operation). ``campaigns`` reads ``lead_id``,
        ``destination_id``, ``destination__account__kind`` (the vendor), ``destination__account__name``,
        ``operation``, ``status``, ``code``, ``message`` and ``updated_at``."""

    def destinations(self) -> QuerySet:
        """Every destination (a campaign at a vendor account); each answers ``supports(operation)``
        and ``unsupported_message(operation)`` for the withdrawal operations."""

    def choices(self, field: str) -> list[tuple[str, str]]:
        """The choices of a delivery's ``status`` or ``operation``, for the API document."""

    def outcomes(self, lead: Any) -> list[dict]:
        """What the vendors' diallers did with ``lead``, newest first: ``vendor`` (kind),
        ``completed``, ``status_code``, ``status_description``, ``outcome_type``, ``read_at``."""

    def vendors_holding(self, lead: Any) -> list[str]:
        """The names of the vendor accounts that have, or may have, ``lead``."""

    def create_demo_vendors(self, solar: Any, cover: Any, sandbox_url: str) -> None:
        """Demo vendor accounts pointing at the local sandbox (``seed_demo``)."""


_pipeline: Pipeline | None = None


def register(pipeline: Pipeline) -> None:
    """Called by the delivery app's ``ready()``; a second call replaces the first."""
    global _pipeline
    _pipeline = pipeline


def get() -> Pipeline | None:
    return _pipeline


def vendors_holding(lead: Any) -> list[str]:
    return _pipeline.vendors_holding(lead) if _pipeline and lead is not None else []
