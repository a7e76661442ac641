"""The lead domain: campaigns, lists, partners, leads and the do-not-call list.

One module a concern, all importable from ``campaigns.models`` as before:
:mod:`.validators` (field validators, ``WEEKDAYS``, ``search_key``), :mod:`.campaigns` (Campaign,
LeadList, Partner), :mod:`.leads` (Lead, DNC, Erasure, IntakeCount), :mod:`.api` (ApiKey,
IdempotencyRecord, PartnerEvent: what the partner API and webhooks keep), :mod:`.jobs` (ImportJob,
BulkAction, BulkActionChunk, WakeUp: background work).
"""
from ..zones import iana_zone, zone_error  # noqa: F401 (iana_zone: vendors.windows imports it from here)
from .campaigns import Campaign, LeadList, Partner  # isort: skip (the models register in this order)
from .leads import DNC, Erasure, IntakeCount, Lead  # isort: skip
from .api import ApiKey, IdempotencyRecord, PartnerEvent  # isort: skip
from .jobs import BulkAction, BulkActionChunk, ImportJob, WakeUp  # isort: skip
from .validators import (
    LOCAL_HOSTS, WEEKDAYS, search_key, validate_calling_days, validate_region, validate_string_values,
    validate_timezone, validate_webhook_url,
)

__all__ = [
    "DNC", "LOCAL_HOSTS", "WEEKDAYS", "ApiKey", "BulkAction", "BulkActionChunk", "Campaign", "Erasure",
    "IdempotencyRecord", "ImportJob", "IntakeCount", "Lead", "LeadList", "Partner", "PartnerEvent", "WakeUp",
    "iana_zone", "search_key", "validate_calling_days", "validate_region", "validate_string_values",
    "validate_timezone", "validate_webhook_url", "zone_error",
]
