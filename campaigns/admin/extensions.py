"""How another app adds to the lead and campaign admin pages."""
from dataclasses import dataclass, field
from typing import Callable


@dataclass(eq=False)
class AdminExtension:
    """What another app adds to the lead and campaign admin pages (the vendors app: each
    lead's deliveries and states per destination, its actions, a campaign's destinations)."""

    lead_inlines: list = field(default_factory=list)
    lead_actions: list = field(default_factory=list)          # admin action functions
    lead_columns: list = field(default_factory=list)          # after the lead list's own columns
    lead_page_steps: list = field(default_factory=list)       # run once per lead list page over its leads
    lead_filters: Callable | None = None                      # request -> list filters for that page
    campaign_inlines: list = field(default_factory=list)


EXTENSIONS: list[AdminExtension] = []


def extend(extension: AdminExtension) -> None:
    """Called from another app's admin module: from then on its parts show on the pages."""
    if extension not in EXTENSIONS:
        EXTENSIONS.append(extension)


def _extended(part: str) -> list:
    return [item for extension in EXTENSIONS for item in getattr(extension, part)]
