"""Encodings, delimiters, header variants and bad files."""
import io

import pytest

from campaigns.imports.mapping import guess_mapping, MappingError, validate_mapping
from campaigns.imports.sniffing import ImportFileError, sniff
from campaigns.models import Lead

ROWS = "Phone,First Name,Last Name,City\n(415) 555-2671,José,Müller,Zürich\n+1 212 555 0147,Zoë,Ørsted,Reykjavík\n"


@pytest.mark.parametrize("encoding,data", [
    ("utf-8", ROWS.encode("utf-8")),
    ("utf-8-sig", ROWS.encode("utf-8-sig")),
    ("utf-16", ROWS.encode("utf-16")),
    ("cp1252", ROWS.encode("cp1252")),
])
def test_it_reads_each_encoding(run_csv, encoding, data):
    assert sniff(io.BytesIO(data)).encoding == encoding
    importer, _ = run_csv(data)
    assert importer.counts == {"accepted": 2}
    names = set(Lead.objects.values_list("first_name", "last_name", "city"))
    assert names == {("José", "Müller", "Zürich"), ("Zoë", "Ørsted", "Reykjavík")}


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_it_detects_each_delimiter(run_csv, delimiter):
    text = ROWS.replace(",", delimiter)
    assert sniff(io.BytesIO(text.encode())).delimiter == delimiter
    importer, _ = run_csv(text.encode())
    assert importer.counts == {"accepted": 2}


def test_it_keeps_quoted_delimiters_and_newlines_inside_values(run_csv):
    data = b'phone;first_name;address\n4155552671;"Ann; Jr";"1 Main St\nApt 2"\n'
    importer, _ = run_csv(data)
    assert importer.counts == {"accepted": 1}
    assert Lead.objects.get().address == "1 Main St\nApt 2"


@pytest.mark.parametrize("header,field", [
    ("Phone", "phone"), ("Mobile", "phone"), ("Phone Number", "phone"), ("Cell", "phone"), ("phone_number", "phone"),
    ("First Name", "first_name"), ("firstname", "first_name"), ("surname", "last_name"), ("Last Name", "last_name"),
    ("E-mail", "email"), ("Email Address", "email"), ("State", "region"), ("Zip", "postal_code"),
    ("Postcode", "postal_code"), ("ZIP Code", "postal_code"), ("City", "city"), ("Country", "country"),
    ("Favourite colour", "metadata"),
])
def test_it_guesses_fields_from_headers(header, field):
    assert guess_mapping([header])[header] == field


def test_a_second_phone_column_becomes_phone_alt_and_repeats_go_to_metadata():
    mapping = guess_mapping(["Phone", "Mobile", "Email", "E-mail"])
    assert mapping == {"Phone": "phone", "Mobile": "phone_alt", "Email": "email", "E-mail": "metadata"}


def test_a_remembered_mapping_wins_over_the_guess():
    assert guess_mapping(["Num", "Notes"], {"Num": "phone", "Notes": "ignore"}) == {"Num": "phone", "Notes": "ignore"}


def test_unknown_columns_become_string_metadata_and_ignored_ones_are_dropped(run_csv):
    data = b"Phone,Colour,Score,Internal\n4155552671,red,42,secret\n"
    mapping = {"Phone": "phone", "Colour": "metadata", "Score": "metadata", "Internal": "ignore"}
    importer, _ = run_csv(data, mapping=mapping)
    assert Lead.objects.get().metadata == {"Colour": "red", "Score": "42"}


@pytest.mark.parametrize("data,message", [
    (b"", "empty"),
    (b"\xef\xbb\xbf\r\n\r\n", "empty"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(100), "PNG image"),
    (b"PK\x03\x04\x14\x00\x06\x00" + bytes(100), "Excel workbook (.xlsx)"),
    (b"%PDF-1.7\n", "PDF"),
    (b"\x00\x01\x02\x03binary\x00\x00", "binary file"),
    (b"<!DOCTYPE html><html><body>hi</body></html>\n", "not a CSV"),
    (b"Dear customer thanks for your order\n", "does not look like a CSV"),
    (b"4155552671,Ada,Lovelace\n2125550147,Bob,Smith\n", "No header row"),
    (b"4155552671\n2125550147\n", "No header row"),
])
def test_bad_files_get_clear_messages(data, message):
    with pytest.raises(ImportFileError) as exc:
        sniff(io.BytesIO(data))
    assert message in exc.value.message


def test_a_file_over_the_limit_is_refused_with_the_limit(settings):
    with pytest.raises(ImportFileError, match="the limit is"):
        sniff(io.BytesIO(b"phone\n" + b"4155552671\n" * 100), max_bytes=100)


def test_no_phone_column_is_a_clear_mapping_error():
    header = sniff(io.BytesIO(b"name,city\nAda,London\n")).header
    with pytest.raises(MappingError, match="No phone column"):
        validate_mapping(header, guess_mapping(header))


def test_a_field_mapped_twice_is_refused():
    with pytest.raises(MappingError, match="mapped twice: phone"):
        validate_mapping(["a", "b"], {"a": "phone", "b": "phone"})
