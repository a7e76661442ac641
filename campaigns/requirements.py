"""What a campaign's vendors need of a lead, so that intake refuses (or routes around) what they would refuse.

Each vendor client declares its needs (``VendorClient.lead_requirements``, read
from its seed: a US state or a zip code, an email and both names, …). ``campaigns`` never imports ``vendors``: the vendors app registers a
:class:`Provider` here in its ``AppConfig.ready`` and intake asks it once per
batch for the rules of the campaign's enabled destinations
(:func:`for_campaign`). Checking a lead is then a few attribute reads per rule.

A campaign's ``vendor_requirements_policy`` decides what an unmet rule does:
``reject`` the lead (reason ``vendor_requirements``, one message per field
naming the vendor) or ``skip`` that destination (the lead is accepted and the
vendors app stores that delivery as skipped, with the same message).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable, Protocol

CODE = "vendor_requirements"


def field_value(lead: Any, name: str) -> str:
    """A lead's value for a requirement field, as stripped text ("" when empty).
    ``metadata.<key>`` reads one metadata value."""
    if name.startswith("metadata."):
        value = (getattr(lead, "metadata", None) or {}).get(name[len("metadata."):])
    else:
        value = getattr(lead, name, None)
    return "" if value is None else str(value).strip()


@dataclass(frozen=True)
class Requirement:
    """One thing a vendor needs of a lead.

    ``fields``: the lead fields that can satisfy it; any one of them does (one
    field: that field is required). ``message`` says what is needed, so that it
    reads after "<vendor> needs" (no final stop). ``check`` replaces the
    default test (one of ``fields`` is not blank) when the value's form matters.
    """

    fields: tuple[str, ...]
    message: str
    check: Callable[[Any], bool] | None = None

    def met(self, lead: Any) -> bool:
        if self.check is not None:
            return self.check(lead)
        for name in self.fields:
            if field_value(lead, name):
                return True
        return False


# The one thing intake itself always needs (intake.clean_values rejects a lead without it).
PHONE = Requirement(("phone",), "a phone number (phone)")


@dataclass(frozen=True)
class Rule:
    """A requirement of one destination of a campaign."""

    vendor: str               # the vendor's label (its client's ``label``)
    destination_id: int
    requirement: Requirement

    @property
    def text(self) -> str:
        return f"{self.vendor} needs {self.requirement.message}."


class Provider(Protocol):
    def rules_for(self, campaign_ids: Iterable[int]) -> dict[int, list[Rule]]:
        """The rules of the enabled destinations of each campaign (one query)."""

    def catalogue(self) -> list[tuple[str, list[Requirement]]]:
        """Per vendor label, what it needs with default destination settings (for documentation)."""


_providers: list[Provider] = []


def register(provider: Provider) -> None:
    """Called by an app's ``ready()``: from then on its rules apply to every intake."""
    if provider not in _providers:
        _providers.append(provider)


class CampaignRequirements:
    """The effective requirements of one campaign: every rule of its enabled destinations."""

    def __init__(self, rules: list[Rule]):
        # intake already refuses a lead without a phone: leave those rules out of the per-lead check
        self.rules = rules
        self._checked = [r for r in rules if r.requirement != PHONE]

    def __bool__(self) -> bool:
        return bool(self._checked)

    def gaps(self, lead: Any) -> list[Rule]:
        """The rules ``lead`` does not meet ([] for most leads)."""
        return [rule for rule in self._checked if not rule.requirement.met(lead)]

    @staticmethod
    def field_errors(gaps: list[Rule]) -> dict[str, list[dict[str, str]]]:
        """Intake's per-field error shape: each unmet rule under each of its fields, naming the vendor."""
        errors: dict[str, list[dict[str, str]]] = {}
        for rule in gaps:
            for name in rule.requirement.fields:
                items = errors.setdefault(name, [])
                entry = {"code": CODE, "message": rule.text}
                if entry not in items:
                    items.append(entry)
        return errors

    @staticmethod
    def summary(gaps: list[Rule]) -> str:
        return " ".join(dict.fromkeys(rule.text for rule in gaps))

    # -- the campaign's description (API, admin) ------------------------------------
    def describe(self) -> list[dict[str, Any]]:
        """One entry per distinct set of fields: which vendors need it and how they say so.
        Phone comes first (intake needs it whatever the vendors)."""
        grouped: dict[tuple[str, ...], dict[str, str]] = {("phone",): {}}
        for rule in self.rules:
            grouped.setdefault(rule.requirement.fields, {}).setdefault(rule.vendor, rule.text)
        return [{"fields": list(fields), "one_of": len(fields) > 1, "vendors": sorted(by_vendor),
                 "message": " ".join(by_vendor[v] for v in sorted(by_vendor)) or "LeadHub needs a phone number."}
                for fields, by_vendor in grouped.items()]

    def required_fields(self) -> list[str]:
        """Fields every lead must have (a rule that one of several fields satisfies is not listed)."""
        return [entry["fields"][0] for entry in self.describe() if not entry["one_of"]]


NONE = CampaignRequirements([])


def for_campaigns(campaign_ids: Iterable[int]) -> dict[int, CampaignRequirements]:
    ids = list(set(campaign_ids))
    rules: dict[int, list[Rule]] = {pk: [] for pk in ids}
    for provider in _providers:
        for pk, found in provider.rules_for(ids).items():
            rules[pk].extend(found)
    return {pk: CampaignRequirements(found) for pk, found in rules.items()}


def for_campaign(campaign) -> CampaignRequirements:
    """The effective requirements of ``campaign`` (one query per provider)."""
    return for_campaigns([campaign.pk])[campaign.pk]


def catalogue_text() -> str:
    """What each vendor needs, in words, for the API description."""
    lines = []
    for provider in _providers:
        for vendor, requirements in provider.catalogue():
            needs = [r.message for r in requirements if r != PHONE]
            lines.append(f"{vendor} needs " + ("; ".join(needs) if needs else "only a phone number") + ".")
    return " ".join(lines)
