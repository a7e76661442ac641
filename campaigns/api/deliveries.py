"""Per-vendor delivery status of a lead, read from ``vendors`` without importing it eagerly.

``campaigns`` must not depend on ``vendors`` (the dependency points the other
way), and the delivery pipeline may not be installed yet: then a lead simply
has no deliveries. Only what a partner may see leaves this module: vendor kind,
operation, status, code, message and time — never credentials, remote
references or raw vendor bodies.
"""
from __future__ import annotations

import logging

from django.apps import apps
from django.core.exceptions import FieldError

log = logging.getLogger(__name__)
MESSAGE_LIMIT = 500


def _delivery_model():
    try:
        return apps.get_model("vendors", "Delivery")
    except LookupError:
        return None


def delivery_choices(field: str) -> list[tuple[str, str]]:
    """The choices of the pipeline's Delivery.<field> (``status``, ``operation``) for the API
    document; empty without the pipeline."""
    Delivery = _delivery_model()
    if Delivery is None:
        return []
    return list(Delivery._meta.get_field(field).choices)


def delivery_status(lead) -> list[dict]:
    Delivery = _delivery_model()
    if Delivery is None:
        return []
    try:
        rows = list(
            Delivery.objects.filter(lead_id=lead.pk)
            .order_by("destination__account__kind", "operation", "pk")
            .values("destination__account__kind", "operation", "status", "code", "message", "updated_at")
        )
    except FieldError:  # the pipeline's model is mid-change: show nothing rather than fail
        log.warning("vendors.Delivery lacks a field the partner API reads; delivery status hidden", exc_info=True)
        return []
    return [
        {
            "vendor": row["destination__account__kind"],
            "operation": row["operation"],
            "status": row["status"],
            "code": row["code"] or "",
            "message": (row["message"] or "")[:MESSAGE_LIMIT],
            "updated_at": row["updated_at"],
        }
        for row in rows
    ]
