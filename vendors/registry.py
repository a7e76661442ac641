"""Vendor kind → client class. Adding a vendor is one module and one line here."""
from __future__ import annotations

from functools import lru_cache

from django.utils.module_loading import import_string

CLIENTS: dict[str, str] = {
    "aktify": "vendors.integrations.aktify.AktifyClient",
    "platform": "vendors.integrations.platform.PlatformClient",
    "comunik8": "vendors.integrations.comunik8.Comunik8Client",
    "eightbyeight": "vendors.integrations.eightbyeight.EightByEightClient",
    "aimylogic": "vendors.integrations.aimylogic.AimylogicClient",
}

LABELS: dict[str, str] = {
    "aktify": "Aktify",
    "platform": "ipSCAPE Platform API",
    "comunik8": "Comunik8",
    "eightbyeight": "8x8 Dynamic Campaigns",
    "aimylogic": "Aimylogic",
}

KIND_CHOICES = [(kind, LABELS[kind]) for kind in CLIENTS]


@lru_cache(maxsize=None)
def client_class(kind: str):
    try:
        return import_string(CLIENTS[kind])
    except KeyError:
        raise LookupError(f"Unknown vendor kind {kind!r}; known: {', '.join(CLIENTS)}.") from None


def client_for(destination, **kwargs):
    """A client for one destination (campaign at one vendor account)."""
    return client_class(destination.account.kind)(destination.account, destination, **kwargs)


def client_for_account(account, **kwargs):
    return client_class(account.kind)(account, None, **kwargs)
