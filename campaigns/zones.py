"""The time zone ids LeadHub accepts: canonical IANA ids, the ones every vendor takes.

``zoneinfo.ZoneInfo`` opens any file under the zone directory, so it accepts
names vendors refuse: ``posixrules``, ``localtime``, ``Factory``, ``posix/…``,
and the tz database's backward-compatible aliases (``US/Eastern``,
``Asia/Calcutta``, ``EST5EDT``, ``Etc/GMT+5``). The strictest vendor decides:
one checks ``timezone`` with Laravel's rule (its "The timezone must be a
valid zone."), i.e. PHP's ``DateTimeZone::listIdentifiers()``, which is the
zones of the tz database's ``zone.tab`` plus ``UTC``. That is the list here
(intersected with what this machine's database can open), so a zone LeadHub
stores is one every vendor takes.

An alias is still understood where LeadHub finds a zone itself: phonenumbers
names some zones by old aliases (``Asia/Calcutta``), and :func:`canonical_zone`
follows the database's links (``tzdata.zi``) to the canonical id
(``Asia/Kolkata``). Typed input is not rewritten silently: :func:`zone_error`
names the canonical id to use instead.

The files come from the system's zone directory (``zoneinfo.TZPATH``), else
from the ``tzdata`` package when installed, the same places ``zoneinfo`` reads.
"""
from __future__ import annotations

import functools
import zoneinfo
from importlib import resources
from pathlib import Path

UTC = "UTC"


def _database_file(name: str) -> str | None:
    """The text of one of the tz database's metadata files (zone.tab, tzdata.zi)."""
    for root in zoneinfo.TZPATH:
        path = Path(root) / name
        if path.is_file():
            return path.read_text(encoding="utf-8")
    try:
        return resources.files("tzdata").joinpath("zoneinfo", name).read_text(encoding="utf-8")
    except (ModuleNotFoundError, FileNotFoundError):
        return None


@functools.cache
def canonical_zones() -> frozenset[str]:
    """Every zone of ``zone.tab``, plus UTC, that this machine can open."""
    text = _database_file("zone.tab")
    if text is None:
        raise RuntimeError("The tz database's zone.tab was not found in zoneinfo.TZPATH "
                           f"{zoneinfo.TZPATH} nor in the tzdata package: install tzdata (apt or pip).")
    names = {line.split("\t")[2].strip() for line in text.splitlines() if line and not line.startswith("#")}
    return frozenset((names | {UTC}) & zoneinfo.available_timezones())


@functools.cache
def _links() -> dict[str, str]:
    """alias -> the zone it links to, from ``tzdata.zi`` ("L target alias" lines); empty without it."""
    links = {}
    for line in (_database_file("tzdata.zi") or "").splitlines():
        if line.startswith("L "):
            _, target, alias = line.split()
            links[alias] = target
    return links


def canonical_zone(name: str) -> str | None:
    """``name`` if it is canonical, the canonical zone an alias stands for, else None."""
    zones, links = canonical_zones(), _links()
    seen = set()
    while name and name not in zones and name in links and name not in seen:
        seen.add(name)
        name = links[name]
    return name if name in zones else None


@functools.lru_cache(maxsize=1024)
def iana_zone(name: str) -> zoneinfo.ZoneInfo | None:
    """The zone named ``name`` when it is a canonical id, else None (cached: hot in imports)."""
    return zoneinfo.ZoneInfo(name) if name in canonical_zones() else None


def zone_error(name: str) -> str:
    """Why ``name`` is refused ("" when it is a canonical id)."""
    if iana_zone(name) is not None:
        return ""
    canonical = canonical_zone(name)
    if canonical:
        return f"{name!r} is an old alias of an IANA time zone; vendors need its canonical id {canonical!r}."
    return f"{name!r} is not a canonical IANA time zone id (e.g. America/Chicago, Europe/Berlin or UTC)."
