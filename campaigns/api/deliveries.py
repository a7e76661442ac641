"""Per-vendor delivery status of a lead, read through the pipeline hook (``campaigns.pipeline``).

``campaigns`` must not depend on ``vendors`` (the dependency points the other way):
without a registered pipeline a lead simply has no deliveries. Only what a partner
may see leaves this module: vendor kind, operation, status, code, message and time —
never credentials, remote references or raw vendor bodies.
"""
from __future__ import annotations

from campaigns import pipeline

MESSAGE_LIMIT = 500


def delivery_choices(field: str) -> list[tuple[str, str]]:
    """The choices of the pipeline's delivery ``status`` or ``operation`` for the API
    document; empty without a pipeline."""
    source = pipeline.get()
    return source.choices(field) if source else []


def delivery_status(lead) -> list[dict]:
    source = pipeline.get()
    if source is None:
        return []
    rows = (source.deliveries().filter(lead_id=lead.pk)
            .order_by("destination__account__kind", "operation", "pk")
            .values("destination__account__kind", "operation", "status", "code", "message", "updated_at"))
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


def call_outcomes(lead) -> list[dict]:
    """What the vendors' diallers did with ``lead``, newest first (vendors that read them back)."""
    source = pipeline.get()
    return source.outcomes(lead) if source else []
