"""The vendor admin's help texts, written from the registry when a page is drawn: a general
sentence, then one sentence per vendor that has something to say (its client's class attributes)."""
from __future__ import annotations

from typing import Callable

from django.utils.functional import lazy
from django.utils.html import escape

from . import registry


def per_vendor(intro: str, describe: Callable[[type], str], outro: str = "") -> str:
    """Lazy help text: ``intro``, then "<label>: <describe(client class)>." for each vendor
    where ``describe`` says something, then ``outro`` (escaped: the admin renders help as HTML)."""
    def text() -> str:
        said = [f"{cls.label}: {words}." for cls in registry.client_classes() if (words := describe(cls))]
        return escape(" ".join(part for part in (intro, *said, outro) if part))
    return lazy(text, str)()


BASE_URL = per_vendor("The vendor's API root for this account. Blank: the vendor's default.",
                      lambda cls: cls.base_url_help or cls.default_base_url)
CREDENTIALS = per_vendor(
    'A JSON object, e.g. {"key": "…"}.',
    lambda cls: ", ".join(cls.required_credentials),
    "Stored encrypted; never shown again. Leave blank to keep the saved credentials.")
SECRET = per_vendor("", lambda cls: cls.secret_help if cls.needs_destination_secret else "",
                    "Encrypted; never shown again. Leave blank to keep the saved one.")
REMOTE_REF = per_vendor("The vendor-side campaign this campaign's leads go to.", lambda cls: cls.remote_ref_label)
SETTINGS = per_vendor("Vendor-specific options (a JSON object), checked per vendor. Known settings:",
                      lambda cls: ", ".join(cls.SETTINGS) or "none")
