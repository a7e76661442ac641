"""The one phone-number normaliser every path uses (API, CSV, admin, search).

Numbers are parsed with the campaign's region (else DEFAULT_PHONE_REGION),
impossible and invalid numbers are rejected with a message naming the input,
and the result is E.164. Parsing is the hot spot of any import, so separators
are stripped first and results are memoised.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import phonenumbers
from django.conf import settings
from phonenumbers import timezone as phone_timezone
from phonenumbers.phonemetadata import PhoneMetadata

from .zones import canonical_zone

# Characters people and spreadsheets put around numbers. A leading apostrophe is
# how spreadsheets force a cell to text; NBSP and unicode dashes come from copy/paste.
_SEPARATORS = re.compile(r"[\s\-\.\(\)/'\"\u00a0\u2010-\u2015\u2212]")
_EXTENSION = re.compile(r"(?:ext\.?|x|#)\s*\d+$", re.IGNORECASE)


class PhoneError(ValueError):
    """Raised for an unusable number; ``code`` is machine-readable."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Phone:
    e164: str
    region: str | None
    time_zone: str | None


def _clean(raw: str) -> str:
    text = _EXTENSION.sub("", raw.strip())
    text = _SEPARATORS.sub("", text)
    if text.startswith("00"):  # international prefix used in most of the world
        text = "+" + text[2:]
    return text


# A bare, "1"-prefixed or "+1" ten-digit North American number (ASCII digits only;
# other shapes and scripts take the generic path).
_NANP = re.compile(r"(?:\+?1)?([2-9][0-9]{9})")


@functools.lru_cache(maxsize=256)
def _is_nanp_region(region: str) -> bool:
    return phonenumbers.country_code_for_region(region) == 1


def _nanp_number(cleaned: str, region: str) -> phonenumbers.PhoneNumber | None:
    r"""What phonenumbers.parse() gives for the common North American shapes, cheaply.

    For a NANP default region, parse() gives country code 1 and these ten digits for
    all three shapes (phonenumbers 9.0.x): "+1" is the calling code; a bare number
    starting 2-9 matches neither the IDD "011" nor a national prefix pattern ("1",
    or "([..]\d{6})$|1" which only matches seven digits); "1" + ten digits is too
    long with the 1, so the 1 is taken as the country code.
    """
    match = _NANP.fullmatch(cleaned)
    if match is None or not _is_nanp_region(region):
        return None
    return phonenumbers.PhoneNumber(country_code=1, national_number=int(match[1]))


def _parse(cleaned: str, region: str) -> Phone | PhoneError:
    if not cleaned:
        return PhoneError("missing_field", "A phone number is required.")
    if not re.fullmatch(r"\+?\d+", cleaned):
        return PhoneError("invalid_phone", "{raw!r} is not a phone number: it contains letters or symbols.")
    # Fast path: most numbers are North American, and parse() is the costly part of a number.
    fast = _nanp_number(cleaned, region)
    if fast is not None:
        nsn = str(fast.national_number)
        if _us_number(nsn):  # what _check() gives, without its validity and time zone lookups
            return _phone(fast, "+1" + nsn, "US")
        result = _check(fast)
        if isinstance(result, Phone):
            return result
    # Generic path, also for an invalid fast-path number so that its error is always
    # the one parse() leads to (re-checking only if parse() disagrees, which it should not).
    try:
        parsed = phonenumbers.parse(cleaned, region)
    except phonenumbers.NumberParseException:
        return PhoneError("invalid_phone", "{raw!r} is not a phone number.")
    if fast is not None and fast == parsed:
        return result
    return _check(parsed)


@functools.cache
def _us_patterns() -> tuple[re.Pattern, re.Pattern] | None:
    """phonenumbers' own US patterns for ten-digit numbers: the general one, and any type."""
    metadata = PhoneMetadata.metadata_for_region("US")
    if phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(1, ())[:1] != ("US",):
        return None

    def takes_ten(desc) -> bool:
        return bool(desc and desc.national_number_pattern and (not desc.possible_length or 10 in desc.possible_length))

    if metadata is None or metadata.leading_digits is not None or not takes_ten(metadata.general_desc):
        return None
    types = [d for d in (metadata.premium_rate, metadata.toll_free, metadata.shared_cost, metadata.voip,
                         metadata.personal_number, metadata.pager, metadata.uan, metadata.voicemail,
                         metadata.fixed_line, metadata.mobile) if takes_ten(d)]
    return (re.compile(metadata.general_desc.national_number_pattern),
            re.compile("|".join(f"(?:{d.national_number_pattern})" for d in types)))


def _us_number(nsn: str) -> bool:
    """Whether region_code_for_number() of +1 ``nsn`` is "US", which also proves it valid.

    +1 numbers are tried against "US" first (COUNTRY_CODE_TO_REGION_CODE[1][0]), and
    "US" is returned when _number_type_helper() finds a type: the general pattern
    matches and so does one type's (premium rate, toll free, ..., fixed line, mobile),
    each only for the lengths it allows. These are the same patterns, compiled once into
    two regexes, so the answer is the same for ten digits (tested against phonenumbers).
    """
    patterns = _us_patterns()
    return (patterns is not None and len(nsn) == 10
            and patterns[0].fullmatch(nsn) is not None and patterns[1].fullmatch(nsn) is not None)


def _check(parsed: phonenumbers.PhoneNumber) -> Phone | PhoneError:
    """Possible, valid, region, time zone and E.164 of a parsed number."""
    if not phonenumbers.is_possible_number(parsed):
        reason = phonenumbers.is_possible_number_with_reason(parsed)
        detail = {
            phonenumbers.ValidationResult.TOO_SHORT: "too short",
            phonenumbers.ValidationResult.TOO_LONG: "too long",
            phonenumbers.ValidationResult.INVALID_COUNTRY_CODE: "an unknown country code",
        }.get(reason, "the wrong length")
        return PhoneError("invalid_phone", "{raw!r} is not a possible phone number (%s for region {region})." % detail)
    # is_valid_number() finds the number's region by trying every region of its
    # country code (25 for +1) and region_code_for_number() does it again: find it
    # once and validate against that region (same answer, half the work), unless
    # finding it already validated the number (_region_proves_validity: US, CA, GB...).
    number_region = phonenumbers.region_code_for_number(parsed)
    if number_region is None or (
        not _region_proves_validity(parsed.country_code, number_region)
        and not phonenumbers.is_valid_number_for_region(parsed, number_region)
    ):
        return PhoneError("invalid_phone", "{raw!r} is not a valid phone number for region {region}.")
    return _phone(parsed, phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164), number_region)


def _phone(parsed: phonenumbers.PhoneNumber, e164: str, region: str) -> Phone:
    """The result for a valid number, with its time zone when it has exactly one."""
    # geographic prefixes only: a mobile or toll-free number has no single zone
    zones = [z for z in phone_timezone.time_zones_for_geographical_number(parsed) if z != "Etc/Unknown"]
    # phonenumbers names some zones by old aliases (Asia/Calcutta) that vendors refuse
    return Phone(e164=e164, region=region, time_zone=canonical_zone(zones[0]) if len(zones) == 1 else None)


@functools.cache
def _region_proves_validity(country_code: int, region: str) -> bool:
    """Whether region_code_for_number() returning ``region`` already means valid.

    For a calling code shared by several regions it tries them in turn and returns
    one without ``leading_digits`` (US, CA, GB, ...) only if the number has a type
    in that region's metadata, which is all is_valid_number_for_region() checks
    (besides the region belonging to the calling code). A calling code with one
    region, or a region with leading_digits, is returned without that check.
    """
    regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(country_code, ())
    metadata = PhoneMetadata.metadata_for_region(region)
    return (
        len(regions) > 1
        and metadata is not None
        and metadata.leading_digits is None
        and metadata.country_code == country_code
    )


# Memo of results by (input as given, region), then by (cleaned input, region); bounded
# (cleared when full). An import's worker processes each have their own.
_memo: dict[tuple[str, str], Phone | PhoneError] = {}
MEMO_MAX = 100_000


def _remember(key: tuple[str, str], result: Phone | PhoneError) -> None:
    if len(_memo) >= MEMO_MAX:
        _memo.clear()
    _memo[key] = result


def _lookup(raw: str, region: str) -> Phone | PhoneError:
    result = _memo.get((raw, region))
    if result is None:
        cleaned = _clean(raw)
        result = _memo.get((cleaned, region))
        if result is None:
            result = _parse(cleaned, region)
            _remember((cleaned, region), result)
        _remember((raw, region), result)
    return result


def parse_phone(raw, region: str | None = None) -> Phone:
    """Parse ``raw`` into a :class:`Phone` or raise :class:`PhoneError`."""
    region = (region or settings.DEFAULT_PHONE_REGION).upper()
    raw = "" if raw is None else str(raw)
    result = _lookup(raw, region)
    if isinstance(result, PhoneError):
        raise PhoneError(result.code, result.message.format(raw=raw.strip(), region=region))
    return result


def extension(raw) -> str:
    """The extension written after a number ("ext 12", "x12", "#12"), digits only; "" if none.

    E.164 has no place for it and parsing drops it, so intake keeps it in the lead's
    metadata (``phone_extension``) for the agent to dial by hand.
    """
    text = "" if raw is None else str(raw).strip()
    if not ("x" in text or "X" in text or "#" in text):  # the hot path: most numbers have none
        return ""
    match = _EXTENSION.search(text)
    return re.sub(r"\D", "", match[0]) if match else ""


def normalize_phone(raw, region: str | None = None) -> str:
    """Return the E.164 form of ``raw`` or raise :class:`PhoneError`."""
    return parse_phone(raw, region).e164


def try_normalize_phone(raw, region: str | None = None) -> str | None:
    try:
        return normalize_phone(raw, region)
    except PhoneError:
        return None
