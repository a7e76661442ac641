"""Calling windows in the lead's own local time.

A lead's zone is ``Lead.timezone``, else the one its number belongs to, else
its campaign's. Windows are computed with zoneinfo on local wall-clock times,
so a DST change moves the UTC instant, not the local hour.
"""
from __future__ import annotations

import datetime as dt

from campaigns.models import WEEKDAYS, iana_zone
from campaigns.phones import PhoneError, parse_phone

from .integrations.base import CallingWindow

UTC = dt.timezone.utc


def lead_time_zone(lead) -> str:
    if lead.timezone and iana_zone(lead.timezone):
        return lead.timezone
    try:
        zone = parse_phone(lead.phone).time_zone
    except PhoneError:
        zone = None
    return zone or lead.campaign.timezone


def window_for(lead, time_zone: str | None = None) -> CallingWindow:
    campaign = lead.campaign
    chosen = {x.strip() for x in campaign.calling_days.split(",")}
    days = tuple(d for d in WEEKDAYS if d in chosen)
    start, end = campaign.calling_start, campaign.calling_end
    if isinstance(start, str):  # unsaved instances may still hold the string default
        start = dt.time.fromisoformat(start)
    if isinstance(end, str):
        end = dt.time.fromisoformat(end)
    return CallingWindow(days=days, start=start, end=end, time_zone=time_zone or lead_time_zone(lead))


def next_open(window: CallingWindow, now: dt.datetime) -> dt.datetime:
    """The first instant at or after ``now`` inside the window (aware, UTC)."""
    zone = iana_zone(window.time_zone) or UTC
    local = now.astimezone(zone)
    allowed = {WEEKDAYS.index(d) for d in window.days}
    if not allowed:
        raise ValueError("A calling window needs at least one day.")
    for offset in range(8):
        day = local.date() + dt.timedelta(days=offset)
        if day.weekday() not in allowed:
            continue
        opens = dt.datetime.combine(day, window.start, tzinfo=zone)
        closes = dt.datetime.combine(day, window.end, tzinfo=zone)
        # round-trip through UTC resolves wall times that a DST jump skipped
        opens, closes = opens.astimezone(UTC), closes.astimezone(UTC)
        if now < opens:
            return opens
        if now < closes:
            return now.astimezone(UTC)
    raise AssertionError("unreachable: some allowed day lies within 8 days")
