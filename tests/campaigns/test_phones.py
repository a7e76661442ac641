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
