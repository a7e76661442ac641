"""CSV export: any rows streamed as a CSV download, every cell formula-neutralised.

The importer removes exactly the apostrophe :func:`~.formulas.neutralise` adds
(:func:`~.formulas.unneutralise`), so an export imports back to the same leads.
"""
from __future__ import annotations

import csv
import datetime as dt
import json
from collections.abc import Iterable, Iterator
from typing import Any

from django.http import StreamingHttpResponse

from .formulas import neutralise


class _Echo:
    def write(self, value):
        return value


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, sort_keys=True) if value else ""
    return neutralise(str(value))


def csv_lines(header: list[str], rows: Iterable[Iterable[Any]], *, bom: bool = True) -> Iterator[str]:
    writer = csv.writer(_Echo())
    if bom:
        yield "\ufeff"
    yield writer.writerow([neutralise(str(h)) for h in header])
    for row in rows:
        yield writer.writerow([_cell(v) for v in row])


def stream_csv(header: list[str], rows: Iterable[Iterable[Any]], filename: str) -> StreamingHttpResponse:
    """A streamed CSV download; every cell is formula-neutralised (see :func:`neutralise`).

    ``rows`` may be any iterable (use ``queryset.iterator()`` or ``values_list``
    with ``iterator(chunk_size=…)`` so memory stays flat on large tables).
    """
    response = StreamingHttpResponse(csv_lines(header, rows), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


LEAD_EXPORT_COLUMNS = [
    "lead_id", "campaign", "lead_list", "status", "phone", "phone_alt", "first_name", "last_name", "email",
    "address", "city", "region", "postal_code", "country", "timezone", "external_id", "source", "link",
    "consent_at", "consent_url", "scheduled_at", "metadata", "created_at",
]


def lead_export_rows(queryset) -> Iterator[list[Any]]:
    qs = queryset.select_related("campaign", "lead_list").order_by("pk")
    for lead in qs.iterator(chunk_size=2000):
        yield [
            lead.pk, lead.campaign.slug, lead.lead_list.name if lead.lead_list_id else "", lead.status,
            lead.phone, lead.phone_alt,
            lead.first_name, lead.last_name, lead.email, lead.address, lead.city, lead.region, lead.postal_code,
            lead.country, lead.timezone, lead.external_id, lead.source, lead.link, lead.consent_at,
            lead.consent_url, lead.scheduled_at, lead.metadata or {}, lead.created_at,
        ]


def stream_leads_csv(queryset, filename: str = "leads.csv") -> StreamingHttpResponse:
    return stream_csv(LEAD_EXPORT_COLUMNS, lead_export_rows(queryset), filename)
