import pytest

from campaigns.phones import PhoneError, normalize_phone, parse_phone


@pytest.mark.parametrize(
    "raw, region, expected",
    [
        ("(415) 555-2671", "US", "+14155552671"),
        ("415.555.2671", "US", "+14155552671"),
        ("+1 415 555 2671", "US", "+14155552671"),
        ("1-415-555-2671", "US", "+14155552671"),
        ("0412 345 678", "AU", "+61412345678"),
        ("+44 20 7946 0958", "US", "+442079460958"),
        ("'+14155552671", "US", "+14155552671"),        # spreadsheet text marker
        ("'(415) 555-2671", "US", "+14155552671"),
        ("  415-555-2671  ", "US", "+14155552671"),
        ("0044 20 7946 0958", "AU", "+442079460958"),   # 00 international prefix
        ("415\u00a0555\u20132671", "US", "+14155552671"),  # NBSP and en dash from copy/paste
    ],
)
def test_it_normalises_real_world_inputs_to_e164(raw, region, expected):
    assert normalize_phone(raw, region) == expected


@pytest.mark.parametrize(
    "raw, region, code, fragment",
    [
        ("call me maybe", "US", "invalid_phone", "letters"),
        ("415-555-CALL", "US", "invalid_phone", "letters"),
        ("555-12", "US", "invalid_phone", "too short"),
        ("", "US", "missing_field", "required"),
        ("   ", "US", "missing_field", "required"),
        (None, "US", "missing_field", "required"),
        ("0412 345 678", "US", "invalid_phone", "0412 345 678"),  # AU mobile read as US
        ("+1 415 555 26711234", "US", "invalid_phone", "too long"),
    ],
)
def test_it_rejects_bad_numbers_naming_the_input(raw, region, code, fragment):
    with pytest.raises(PhoneError) as exc:
        normalize_phone(raw, region)
    assert exc.value.code == code
    assert fragment in exc.value.message


def test_the_error_message_names_the_input_verbatim():
    with pytest.raises(PhoneError) as exc:
        normalize_phone("12ab34", "US")
    assert "'12ab34'" in exc.value.message


def test_it_uses_the_default_region_setting(settings):
    settings.DEFAULT_PHONE_REGION = "AU"
    assert normalize_phone("0412 345 678") == "+61412345678"


def test_it_derives_the_time_zone_and_region_from_the_number():
    phone = parse_phone("(415) 555-2671", "US")
    assert phone.time_zone == "America/Los_Angeles"
    assert phone.region == "US"
    assert parse_phone("+44 20 7946 0958").time_zone == "Europe/London"


# --- _parse must give exactly what the original (all-phonenumbers) code gave --------------

import random  # noqa: E402
import re  # noqa: E402

import phonenumbers  # noqa: E402
from phonenumbers import timezone as phone_timezone  # noqa: E402

from campaigns import phones  # noqa: E402
from campaigns.zones import canonical_zone  # noqa: E402


def _reference_parse(cleaned, region):
    """campaigns.phones._parse as it was before the NANP fast path and the skipped re-validation."""
    if not cleaned:
        return PhoneError("missing_field", "A phone number is required.")
    if not re.fullmatch(r"\+?\d+", cleaned):
        return PhoneError("invalid_phone", "{raw!r} is not a phone number: it contains letters or symbols.")
    try:
        parsed = phonenumbers.parse(cleaned, region)
    except phonenumbers.NumberParseException:
        return PhoneError("invalid_phone", "{raw!r} is not a phone number.")
    if not phonenumbers.is_possible_number(parsed):
        reason = phonenumbers.is_possible_number_with_reason(parsed)
        detail = {
            phonenumbers.ValidationResult.TOO_SHORT: "too short",
            phonenumbers.ValidationResult.TOO_LONG: "too long",
            phonenumbers.ValidationResult.INVALID_COUNTRY_CODE: "an unknown country code",
        }.get(reason, "the wrong length")
        return PhoneError("invalid_phone", "{raw!r} is not a possible phone number (%s for region {region})." % detail)
    number_region = phonenumbers.region_code_for_number(parsed)
    if number_region is None or not phonenumbers.is_valid_number_for_region(parsed, number_region):
        return PhoneError("invalid_phone", "{raw!r} is not a valid phone number for region {region}.")
    zones = [z for z in phone_timezone.time_zones_for_geographical_number(parsed) if z != "Etc/Unknown"]
    return phones.Phone(
        e164=phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164),
        region=number_region,
        time_zone=canonical_zone(zones[0]) if len(zones) == 1 else None,  # phonenumbers' aliases made canonical
    )


def _outcome(result):
    if isinstance(result, PhoneError):
        return ("error", result.code, result.message)
    return ("phone", result.e164, result.region, result.time_zone)


def _ten_digit_numbers():
    rng = random.Random(20240611)
    numbers = []
    # many area codes, assigned or not (2xx-9xx), with random exchanges and lines
    for area in range(200, 1000):
        numbers.append(f"{area}{rng.randint(200, 999)}{rng.randint(0, 9999):04d}")
    canada = [204, 236, 250, 306, 403, 416, 418, 438, 506, 514, 604, 613, 647, 709, 780, 867, 902, 905]
    caribbean_and_territories = [
        242, 246, 264, 268, 284, 340, 345, 441, 473, 649, 658, 664, 670, 671, 684, 721, 758,
        767, 784, 787, 809, 829, 849, 868, 869, 876, 939,
    ]
    toll_free = [800, 833, 844, 855, 866, 877, 888]
    for area in canada + caribbean_and_territories + toll_free:
        numbers += [f"{area}{rng.randint(200, 999)}{rng.randint(0, 9999):04d}" for _ in range(5)]
    for area in [212, 415, 876, 416, 800]:
        numbers += [f"{area}{n}11{rng.randint(0, 9999):04d}" for n in range(2, 10)]  # N11 exchanges
        numbers += [f"{area}555{line:04d}" for line in range(95, 205, 5)]  # around 555-01xx
        numbers += [f"{area}{exchange}{rng.randint(0, 9999):04d}" for exchange in ("012", "055", "123", "199")]
    numbers += [f"{n}11{rng.randint(200, 999)}{rng.randint(0, 9999):04d}" for n in range(2, 10)]  # N11 area codes
    numbers += [f"{first}{rng.randint(0, 99):02d}{rng.randint(200, 999)}{rng.randint(0, 9999):04d}"
                for first in "01" for _ in range(20)]  # area codes starting 0 or 1
    return numbers


def _inputs():
    inputs = []
    for number in _ten_digit_numbers():
        inputs += [number, "1" + number, "+1" + number]  # the three fast-path shapes
    inputs += ["11" + n for n in ("2125551234", "4155552671")]  # "1" + "1..." (not stripped)
    inputs += ["1" + n + "5" for n in ("2125551234", "4155552671")]  # 12 digits
    inputs += ["+1" + n[:-1] for n in ("2125551234", "4155552671")]  # 9 digits after +1
    inputs += ["4155552671".translate(str.maketrans("0123456789", "０１２３４５６７８９")),  # \d but not [0-9]
               "٤١٥٥٥٥٢٦٧١", "1٤١٥٥٥٥٢٦٧١"]
    inputs += ["+442079460958", "+447911123456", "+441624756789", "+441481256789", "+441534456789",
               "+4420794609", "+44207946095812", "+448001111", "02079460958", "07911123456", "2079460958"]
    inputs += ["+33123456789", "+33012345678", "+33912345678", "+61412345678", "+61012345678"]  # one-region codes
    inputs += ["", "+", "1", "+1", "911", "5551234", "+999123456789", "0012125551234"]
    return inputs


def test_parse_matches_the_original_phonenumbers_pipeline():
    inputs = _inputs()
    assert len(inputs) > 3000
    for region in ("US", "CA", "PR", "GB"):
        for cleaned in inputs:
            assert _outcome(phones._parse(cleaned, region)) == _outcome(_reference_parse(cleaned, region)), (cleaned, region)


def test_parse_matches_the_original_in_every_north_american_region():
    # Caribbean regions have national-prefix transform rules (seven-digit local dialling)
    inputs = _inputs()[::13]
    for region in phonenumbers.COUNTRY_CODE_TO_REGION_CODE[1]:
        for cleaned in inputs:
            assert _outcome(phones._parse(cleaned, region)) == _outcome(_reference_parse(cleaned, region)), (cleaned, region)


def test_a_valid_north_american_number_skips_phonenumbers_parse(monkeypatch):
    def no_parse(*args, **kwargs):
        raise AssertionError("phonenumbers.parse called")

    monkeypatch.setattr(phonenumbers, "parse", no_parse)
    for cleaned in ("4155552671", "14155552671", "+14155552671", "+18765550123"):
        assert isinstance(phones._parse(cleaned, "US"), phones.Phone)


def test_a_valid_us_number_needs_no_region_search(monkeypatch):
    """US numbers (most of any import) are recognised by phonenumbers' own US patterns,
    compiled once; the 25-region search runs only for the rest (equivalence: above)."""
    def no_search(*args, **kwargs):
        raise AssertionError("region_code_for_number called")

    monkeypatch.setattr(phonenumbers, "region_code_for_number", no_search)
    result = phones._parse("4155552671", "US")
    assert result == phones.Phone(e164="+14155552671", region="US", time_zone="America/Los_Angeles")
    with pytest.raises(AssertionError):  # Jamaica: not a US number, so the search runs
        phones._parse("+18765550123", "US")
