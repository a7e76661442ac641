"""The vendors LeadHub delivers to: one entry per vendor, and everything else derives from it.

An entry names two things, both self-describing:

* the **client** (a ``VendorClient`` subclass in ``vendors/integrations/``): its kind,
  label, capabilities, credential and settings schema, help texts and demo set-up are
  class attributes (see ``integrations/base.py``);
* the **sandbox app** (a ``VendorSim`` subclass in ``vendors/sandbox/``): the local
  simulator of the vendor, served at ``/<kind>`` by ``manage.py vendor_sandbox``.

From the entries come the account's kind choices (a callable, so adding a vendor needs
no migration), the admin's help texts, the demo accounts (``vendors.demo``), the sandbox
routes and the requirements catalogue. Adding a vendor is one line below; see
``vendors/README.md``.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from django.utils.module_loading import import_string

if TYPE_CHECKING:  # pragma: no cover
    from .integrations.base import VendorClient
    from .sandbox.server import VendorSim


@dataclass(frozen=True, eq=False)
class Vendor:
    """One vendor: its client class and its sandbox app (each a class or its dotted path)."""

    client: Any
    sandbox: Any

    @cached_property
    def client_class(self) -> type["VendorClient"]:
        return import_string(self.client) if isinstance(self.client, str) else self.client

    @cached_property
    def sandbox_class(self) -> type["VendorSim"]:
        return import_string(self.sandbox) if isinstance(self.sandbox, str) else self.sandbox

    @property
    def kind(self) -> str:
        return self.client_class.kind

    @property
    def label(self) -> str:
        return self.client_class.label


VENDORS: list[Vendor] = [
    Vendor("vendors.integrations.aktify.AktifyClient", "vendors.sandbox.aktify.AktifySim"),
    Vendor("vendors.integrations.platform.PlatformClient", "vendors.sandbox.platform.PlatformSim"),
    Vendor("vendors.integrations.comunik8.Comunik8Client", "vendors.sandbox.comunik8.Comunik8Sim"),
    Vendor("vendors.integrations.eightbyeight.EightByEightClient", "vendors.sandbox.eightbyeight.EightByEightSim"),
    Vendor("vendors.integrations.aimylogic.AimylogicClient", "vendors.sandbox.aimylogic.AimylogicSim"),
]

_by_kind: dict[str, Vendor] | None = None   # rebuilt after a change, replaced whole (threads read it)


def register(client: Any, sandbox: Any) -> Vendor:
    """Add a vendor at run time (tests, plugins); ``unregister`` undoes it."""
    global _by_kind
    entry = Vendor(client, sandbox)
    if entry.kind in vendors():
        raise ValueError(f"A vendor of kind {entry.kind!r} is registered already.")
    VENDORS.append(entry)
    _by_kind = None
    return entry


def unregister(entry: Vendor) -> None:
    global _by_kind
    VENDORS.remove(entry)
    _by_kind = None


def vendors() -> dict[str, Vendor]:
    """Every vendor by kind, in registry order."""
    global _by_kind
    found = _by_kind
    if found is None:
        found = {entry.kind: entry for entry in VENDORS}
        if len(found) != len(VENDORS):
            raise ValueError("Two registry entries share a vendor kind.")
        _by_kind = found
    return found


def kinds() -> list[str]:
    return list(vendors())


def kind_choices() -> list[tuple[str, str]]:
    """``VendorAccount.kind``'s choices (called, not stored: a new vendor needs no migration)."""
    return [(kind, entry.label) for kind, entry in vendors().items()]


def client_class(kind: str) -> type["VendorClient"]:
    try:
        return vendors()[kind].client_class
    except KeyError:
        raise LookupError(f"Unknown vendor kind {kind!r}; known: {', '.join(vendors())}.") from None


def client_classes() -> list[type["VendorClient"]]:
    return [entry.client_class for entry in vendors().values()]


def client_for(destination, **kwargs):
    """A client for one destination (campaign at one vendor account)."""
    return client_class(destination.account.kind)(destination.account, destination, **kwargs)


def client_for_account(account, **kwargs):
    return client_class(account.kind)(account, None, **kwargs)
