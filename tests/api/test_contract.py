"""The OpenAPI document is a contract a generated client can trust (issue 16).

Two kinds of test: ones that walk the whole served document (so endpoints added
later are held to the same rules), and ones that send real requests and check
what comes back. Every response any test gets from /api/v1/ is also validated
against the document by the autouse fixture in tests/conftest.py (tests/contract.py).
"""
from __future__ import annotations

import json

import pytest
from openapi_schema_validator import OAS30Validator
from openapi_spec_validator import validate as validate_spec

from campaigns.api.idempotency import MAX_KEY_LENGTH
from campaigns.api.schema import ADDED_LATER
from campaigns.models import DNC, WEEKDAYS, Campaign, Lead
from tests import contract

BULK = "/api/v1/leads/bulk/"


@pytest.fixture
def document(db):
    return contract.served_document()


def walk(node, where=()):
    """Every (path, dict) in a JSON document."""
    if isinstance(node, dict):
        yield where, node
        for key, value in node.items():
            yield from walk(value, (*where, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from walk(value, (*where, index))


def operations(document):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            yield path, method, operation


def response_components(document):
    """Names of the component schemas that describe responses (requests are split off as *Request)."""
    return [name for name, schema in document["components"]["schemas"].items()
            if "properties" in schema and not name.endswith("Request")]


def validator(document, schema):
    return OAS30Validator({**schema, "components": document["components"]})


# --- the document as a whole ----------------------------------------------------------

def test_the_document_is_valid_openapi(document, client):
    validate_spec(document)
    assert client.get("/api/schema/?format=json").json() == document  # what the suite checks is what is served


def test_every_nullable_schema_really_accepts_null(document):
    """Item 1: ``allOf: [$ref]`` + ``nullable`` reads as "never null" in OpenAPI 3.0.3."""
    nullable = [(where, node) for where, node in walk(document) if node.get("nullable") is True]
    assert nullable, "the document has nullable fields"
    refusing = [where for where, node in nullable if list(validator(document, node).iter_errors(None))]
    assert refusing == []


def test_path_ids_are_integers_like_the_ids_in_responses(document):
    """Item 3, for every path parameter that names an id (the erase endpoint's too)."""
    ids = [(path, p["name"], p["schema"]) for path, _, op in operations(document)
           for p in op.get("parameters", []) if p["in"] == "path"]
    assert ids
    for path, name, schema in ids:
        assert name == "id" or name.endswith("_id"), (path, name)
        assert schema["type"] == "integer", (path, name, schema)


def test_every_field_a_response_always_sends_is_required(document):
    """Item 8: a response field that is always sent is marked required, so a generated
    client does not make it optional (Unset) for every partner."""
    for name in response_components(document):
        schema = document["components"]["schemas"][name]
        missing = set(schema["properties"]) - set(schema.get("required", []))
        assert not missing, (name, sorted(missing))


def test_409_on_every_post_documents_retry_after(document):
    """Item 9: idempotency_in_progress answers 409 with Retry-After."""
    posts = [(path, op) for path, method, op in operations(document) if method == "post"]
    assert posts
    for path, op in posts:
        headers = op["responses"]["409"].get("headers", {})
        assert headers["Retry-After"]["schema"] == {"type": "integer"}, path


def test_the_idempotency_key_limit_is_stated(document):
    for path, method, op in operations(document):
        if method != "post":
            continue
        [param] = [p for p in op["parameters"] if p["name"] == "Idempotency-Key"]
        assert param["schema"]["maxLength"] == MAX_KEY_LENGTH == 255
        assert "255 characters" in param["description"]


def test_every_operation_has_its_own_description(document):
    """Not a base class's docstring (\"Base of every partner endpoint...\" was shown for three)."""
    descriptions = [op.get("description", "") for _, _, op in operations(document)]
    assert all(descriptions) and len(set(descriptions)) == len(descriptions), descriptions


def test_the_small_things(document, client):
    """Item 11."""
    schemas = document["components"]["schemas"]
    assert "campaign" in schemas["LeadCreateRequest"]["properties"]
    assert "everything but the campaign" not in schemas["LeadCreateRequest"].get("description", "")
    assert "without its campaign" in schemas["LeadFieldsRequest"]["description"]
    examples = [node["example"] for _, node in walk(document) if isinstance(node.get("example"), str)]
    assert not [e for e in examples if e.count('"') % 2], examples
    # YAML unless asked, and the document says so
    assert "?format=json" in document["info"]["description"]
    assert client.get("/api/schema/")["Content-Type"].startswith("application/vnd.oai.openapi")
    assert client.get("/api/schema/?format=json")["Content-Type"].startswith("application/vnd.oai.openapi+json")


# --- the contract check itself ----------------------------------------------------------

def _bulk_answer(**changes):
    item = {"index": 0, "status": "accepted", "id": 7, "phone": "+14155550100", "error": None, "warnings": []}
    item.update(changes)
    return {"dry_run": False, "campaign": "solar-us", "summary": {"accepted": 1, "rejected": 0}, "results": [item]}


@pytest.mark.parametrize("status, body, breaks", [
    (207, _bulk_answer(), None),
    (418, _bulk_answer(), "undeclared status code"),
    (207, _bulk_answer(score=3), "undeclared field"),
    (207, _bulk_answer(id="7"), "wrong type"),
    (207, _bulk_answer(index=None), "undeclared null"),
])
def test_the_contract_check_refuses_what_the_document_does_not_declare(db, status, body, breaks):
    request = contract.ApiRequest("POST", BULK, headers={"Content-Type": "application/json"})
    response = contract.ApiResponse(status, {"Content-Type": "application/json"}, contract.json_body(body))
    if breaks is None:
        contract.check(request, response)
    else:
        with pytest.raises(AssertionError, match="breaks the OpenAPI contract"):
            contract.check(request, response)


# --- real answers ---------------------------------------------------------------------

def test_a_bulk_answer_with_accepted_items_validates(api, campaign):
    """Item 1, end to end: ``error: null`` on an accepted item is what the document says."""
    r = api.post(BULK, {"campaign": "solar-us", "leads": [{"phone": "+14155550100"}, {"phone": "nope"}]},
                 format="json")
    assert r.status_code == 207
    assert [x["error"] is None for x in r.json()["results"]] == [True, False]
    contract.check_django(r)  # explicit (the autouse fixture does it too)


def test_rejected_bulk_items_carry_the_number_when_it_was_read(api, campaign, make_lead):
    """Item 7: the phone of a rejected item is its E.164 form whenever the number was valid."""
    make_lead(campaign, phone="+14155550100")
    DNC.objects.create(phone="+14155550101", campaign=campaign)
    items = [{"phone": "(415) 555-0100"},                      # duplicate
             {"phone": "415.555.0101"},                        # dnc
             {"phone": "415 555 0102", "email": "nope"},       # invalid_field, number fine
             {"phone": "+14155550103"}, {"phone": "4155550103"},  # duplicate_in_batch
             {"phone": "banana"},                              # invalid_phone: nothing to read
             "not an object"]
    r = api.post(BULK, {"campaign": "solar-us", "leads": items}, format="json")
    results = r.json()["results"]
    assert [(x["status"], x["error"] and x["error"]["code"], x["phone"]) for x in results] == [
        ("rejected", "duplicate", "+14155550100"),
        ("rejected", "dnc", "+14155550101"),
        ("rejected", "invalid_field", "+14155550102"),
        ("accepted", None, "+14155550103"),
        ("rejected", "duplicate_in_batch", "+14155550103"),
        ("rejected", "invalid_phone", None),
        ("rejected", "invalid_field", None),
    ]


def test_lead_ids_in_paths_are_integers_and_others_are_a_json_404(api, campaign, partner, make_lead):
    lead = make_lead(campaign, partner=partner)
    assert api.get(f"/api/v1/leads/{lead.pk}/").json()["id"] == lead.pk
    for bad in ("abc", "1.5", "-1", "9" * 19, "%20"):
        r = api.get(f"/api/v1/leads/{bad}/")
        assert r.status_code == 404 and r.json()["code"] == "not_found", bad
        assert api.post(f"/api/v1/leads/{bad}/cancel/").status_code == 404


def test_blank_text_is_an_empty_string_never_null(api, campaign, partner, make_lead, document):
    """Item 6: phone_alt (and a delivery's code and message) are "" when there is nothing."""
    lead = make_lead(campaign, partner=partner)
    body = api.get(f"/api/v1/leads/{lead.pk}/").json()
    assert body["phone_alt"] == ""
    schemas = document["components"]["schemas"]
    for name, fields in (("Lead", ["phone_alt"]), ("LeadDetail", ["phone_alt"]), ("Delivery", ["code", "message"])):
        for field in fields:
            assert schemas[name]["properties"][field]["type"] == "string"
            assert not schemas[name]["properties"][field].get("nullable"), (name, field)


def test_campaign_calling_days_are_a_list_of_weekdays(api, campaign, document):
    """Item 8: a list of day names, Monday first, instead of an undocumented comma string."""
    Campaign.objects.filter(pk=campaign.pk).update(calling_days="fri, mon,wed")
    [item] = api.get("/api/v1/campaigns/").json()
    assert item["calling_days"] == ["mon", "wed", "fri"]
    assert item["status"] == "active" and item["timezone"] == "America/New_York"
    days = document["components"]["schemas"]["Campaign"]["properties"]["calling_days"]
    assert days["type"] == "array"
    assert document["components"]["schemas"]["WeekdayEnum"]["enum"] == WEEKDAYS



# --- paging (item 2, item 5's page_size; issue 15's bad cursor) ---------------------------

LEADS = "/api/v1/leads/"


@pytest.fixture
def two_campaigns_of_leads(campaign, partner, make_lead, make_campaign):
    other = make_campaign(slug="wind-us", name="Wind US")
    partner.campaigns.add(other)
    mine = [make_lead(campaign, partner=partner) for _ in range(5)]
    for _ in range(3):
        make_lead(other, partner=partner)
    return mine


def test_a_bare_cursor_pages_the_same_listing_to_the_end(api, two_campaigns_of_leads):
    """The cursor alone carries the filters and the page size: no URL to parse, nothing to resend."""
    r = api.get(LEADS, {"campaign": "solar-us", "page_size": 2})
    pages = [r.json()]
    while pages[-1]["next_cursor"]:
        r = api.get(LEADS, {"cursor": pages[-1]["next_cursor"]})
        assert r.status_code == 200, r.json()
        pages.append(r.json())
    assert [len(p["results"]) for p in pages] == [2, 2, 1]
    assert [x["id"] for p in pages for x in p["results"]] == sorted((x.pk for x in two_campaigns_of_leads), reverse=True)
    assert pages[0]["previous_cursor"] is None and pages[-1]["next"] is None
    # next is the same page as a URL; previous_cursor goes back
    assert pages[0]["next"].endswith("?cursor=" + pages[0]["next_cursor"])
    back = api.get(LEADS, {"cursor": pages[1]["previous_cursor"]}).json()
    assert [x["id"] for x in back["results"]] == [x["id"] for x in pages[0]["results"]]


def test_a_cursor_with_different_filters_is_refused(api, two_campaigns_of_leads):
    first = api.get(LEADS, {"campaign": "solar-us", "page_size": 2}).json()
    same = api.get(LEADS, {"cursor": first["next_cursor"], "campaign": "solar-us", "page_size": 2})
    assert same.status_code == 200
    for changed in ({"campaign": "wind-us"}, {"page_size": 3}, {"status": "new"}):
        r = api.get(LEADS, {"cursor": first["next_cursor"], **changed})
        assert r.status_code == 400 and r.json()["fields"]["cursor"][0]["code"] == "invalid_field", changed
        assert "start a new listing" in r.json()["message"]


@pytest.mark.parametrize("cursor", [
    "cD14",                                    # DRF's format, decoding to p=x (was a 500)
    "cD0xMjM=", "not base64!", "", "eyJ9", "e30", "bnVsbA",
    "eyJvIjowLCJyIjpmYWxzZSwicCI6IngiLCJxIjp7fX0",   # {"o":0,"r":false,"p":"x","q":{}}
    "eyJvIjotMSwiciI6ZmFsc2UsInAiOm51bGwsInEiOnt9fQ",  # offset -1
    "eyJvIjowLCJyIjpmYWxzZSwicCI6bnVsbCwicSI6eyJ4IjoiMSJ9fQ",  # an unknown carried parameter
    "\u00e9\u00e9",
])
def test_a_cursor_that_is_not_ours_is_a_400_on_cursor(api, campaign, cursor):
    r = api.get(LEADS, {"cursor": cursor})
    assert r.status_code == 400, r.content
    assert r.json()["fields"]["cursor"][0]["code"] == "invalid_field"


@pytest.mark.parametrize("size", ["0", "1001", "5000", "-1", "ten", "", "1.5", " "])
def test_page_size_out_of_range_is_refused_not_changed(api, campaign, size):
    r = api.get(LEADS, {"page_size": size})
    assert r.status_code == 400
    assert r.json()["fields"]["page_size"][0]["code"] == "invalid_field"
    assert "from 1 to 1,000" in r.json()["message"]


@pytest.mark.parametrize("size, expected", [("1", 1), ("1000", 3), (None, 3)])
def test_page_size_within_bounds_is_honoured(api, campaign, partner, make_lead, size, expected):
    for _ in range(3):
        make_lead(campaign, partner=partner)
    r = api.get(LEADS, {"page_size": size} if size else {})
    assert r.status_code == 200 and len(r.json()["results"]) == expected


def test_the_document_describes_opaque_cursors_and_page_size_bounds(document):
    op = document["paths"][LEADS]["get"]
    params = {p["name"]: p for p in op["parameters"]}
    assert params["page_size"]["schema"] == {"type": "integer", "minimum": 1, "maximum": 1000}
    assert "default 100" in params["page_size"]["description"]
    assert "Opaque" in params["cursor"]["description"]
    assert "Paging to the end" in op["description"]
    page = document["components"]["schemas"]["PaginatedLeadList"]
    assert set(page["required"]) == {"next_cursor", "previous_cursor", "next", "previous", "results"}


# --- declared limits (items 4 and 5) and hostile bodies (issue 15) ------------------------

def test_list_limits_are_declared(document):
    schemas = document["components"]["schemas"]
    leads = schemas["BulkLeadCreateRequest"]["properties"]["leads"]
    numbers = schemas["DncAddRequest"]["properties"]["numbers"]
    assert (leads["minItems"], leads["maxItems"]) == (1, 1000)
    assert (numbers["minItems"], numbers["maxItems"]) == (1, 1000)


def test_metadata_is_a_bounded_object_of_strings_in_and_out(document):
    from campaigns import intake

    schemas = document["components"]["schemas"]
    for name in ("Lead", "LeadDetail", "LeadCreateRequest", "LeadFieldsRequest"):
        metadata = schemas[name]["properties"]["metadata"]
        assert metadata["type"] == "object", name
        assert metadata["additionalProperties"] == {"type": "string", "maxLength": intake.METADATA_MAX_VALUE_LENGTH}
        assert metadata["maxProperties"] == intake.METADATA_MAX_KEYS
        assert f"at most {intake.METADATA_MAX_KEY_LENGTH} characters" in metadata["description"]


@pytest.mark.parametrize("metadata, says", [
    ({f"k{n}": "v" for n in range(101)}, "metadata has 101 keys; the limit is 100."),
    ({"k" * 101: "v"}, "metadata keys are at most 100 characters"),
    ({"notes": "x" * 5001}, "metadata values are at most 5,000 characters"),
    ({"nested": {"a": "b"}}, "metadata values must be strings (metadata is one level deep"),
    ({"list": ["a"]}, "metadata values must be strings"),
])
def test_metadata_out_of_bounds_is_a_clear_400(api, campaign, metadata, says):
    bulk = api.post(BULK, {"campaign": "solar-us", "leads": [{"phone": "+14155550100", "metadata": metadata}]},
                    format="json")
    [item] = bulk.json()["results"]
    assert item["status"] == "rejected" and item["error"]["code"] == "invalid_field"
    assert says in item["error"]["fields"]["metadata"][0]["message"]
    single = api.post(LEADS, {"campaign": "solar-us", "phone": "+14155550100", "metadata": metadata}, format="json")
    assert single.status_code == 400 and "metadata" in single.json()["fields"]
    assert not Lead.objects.exists()


def test_metadata_at_its_bounds_is_kept(api, campaign):
    metadata = {f"{n:03d}" + "k" * 97: "v" * 5000 for n in range(100)}
    r = api.post(LEADS, {"campaign": "solar-us", "phone": "+14155550100", "metadata": metadata}, format="json")
    assert r.status_code == 201, r.json()
    assert api.get(f"{LEADS}{r.json()['id']}/").json()["metadata"] == metadata


def _nested(depth):
    return "[" * depth + "]" * depth


@pytest.mark.parametrize("url", [LEADS, BULK, "/api/v1/dnc/", "/api/v1/leads/1/cancel/"])
@pytest.mark.parametrize("idempotent", [False, True])
def test_json_nested_5000_deep_is_a_400_parse_error(api, campaign, url, idempotent):
    body = '{"campaign": "solar-us", "phone": "+14155550100", "metadata": {"x": ' + _nested(5000) + "}}"
    headers = {"HTTP_IDEMPOTENCY_KEY": "deep"} if idempotent else {}
    r = api.generic("POST", url, body, content_type="application/json", **headers)
    if url.endswith("cancel/"):  # no lead 1: the body is never read
        assert r.status_code == 404
        return
    assert r.status_code == 400, r.content[:300]
    assert r.json()["code"] == "parse_error" and "nested too deeply" in r.json()["message"]


@pytest.mark.parametrize("url", [LEADS, BULK, "/api/v1/dnc/"])
@pytest.mark.parametrize("idempotent", [False, True])
def test_a_10_mb_body_is_a_413_in_the_error_shape_with_the_limit(api, campaign, url, idempotent):
    body = '{"campaign": "solar-us", "phone": "+14155550100", "metadata": {"x": "' + "a" * (10 << 20) + '"}}'
    headers = {"HTTP_IDEMPOTENCY_KEY": "big"} if idempotent else {}
    r = api.generic("POST", url, body, content_type="application/json", **headers)
    assert r.status_code == 413 and r["Content-Type"] == "application/json"
    assert r.json()["code"] == "request_too_large"
    assert "2,621,440 bytes" in r.json()["message"]


# --- enums (item 10) ---------------------------------------------------------------------

def test_enums_in_responses_are_open_and_parameters_share_the_components(document):
    """Every enum a response uses is declared "one of these, or another string"; no parameter
    carries an inline copy of an enum (the status filter made generators emit V1LeadsListStatus)."""
    schemas = document["components"]["schemas"]
    enums = {f"#/components/schemas/{name}" for name, schema in schemas.items()
             if "enum" in schema and name not in ("NullEnum", "WeekdayEnum")}
    opened = 0
    for name in response_components(document):
        for field, prop in schemas[name]["properties"].items():
            prop = prop.get("items", prop)
            refs = {node["$ref"] for _, node in walk(prop) if node.get("$ref") in enums}
            if refs:
                assert ADDED_LATER in prop.get("anyOf", []), (name, field)
                opened += 1
    assert opened >= 6  # lead, campaign, delivery status and operation, bulk and DNC result kinds
    for path, method, op in operations(document):
        for param in op.get("parameters", []):
            assert "enum" not in param["schema"], (path, method, param["name"])
    status = [p for p in document["paths"]["/api/v1/leads/"]["get"]["parameters"] if p["name"] == "status"]
    assert status[0]["schema"] == {"$ref": "#/components/schemas/LeadStatusEnum"}
    assert "DeliveryStatusEnum" in schemas and "DeliveryOperationEnum" in schemas


@pytest.mark.parametrize("where", ["first_name", "city", "metadata key", "metadata value"])
@pytest.mark.parametrize("bad", ["A\x00B", "\ud800", "x\udfff"])
def test_text_that_cannot_be_stored_is_a_field_error_not_a_500(api, campaign, where, bad):
    """NUL and unpaired surrogates (JSON "\\u0000", "\\ud800") made PostgreSQL fail the insert (500)."""
    lead = {"phone": "+14155550100"}
    if where == "metadata key":
        lead["metadata"] = {bad: "v"}
    elif where == "metadata value":
        lead["metadata"] = {"k": bad}
    else:
        lead[where] = bad
    field = where.split()[0]
    single = api.generic("POST", LEADS, json.dumps({"campaign": "solar-us", **lead}), content_type="application/json")
    assert single.status_code == 400, single.content
    assert single.json()["fields"][field][0]["code"] == "invalid_field"
    bulk = api.generic("POST", BULK, json.dumps({"campaign": "solar-us", "leads": [lead, {"phone": "+14155550101"}]}),
                       content_type="application/json")
    assert [r["status"] for r in bulk.json()["results"]] == ["rejected", "accepted"]
    assert "NUL character or an unpaired surrogate" in bulk.json()["results"][0]["error"]["fields"][field][0]["message"]
    assert list(Lead.objects.values_list("phone", flat=True)) == ["+14155550101"]


def test_a_lead_in_any_script_is_kept(api, campaign):
    names = {"first_name": "Zoë 😀", "last_name": "Ñandú", "city": "東京", "metadata": {"note": "naïve ✓ 𝄞"}}
    r = api.post(LEADS, {"campaign": "solar-us", "phone": "+14155550100", **names}, format="json")
    assert r.status_code == 201, r.json()
    body = api.get(f"{LEADS}{r.json()['id']}/").json()
    assert {k: body[k] for k in names} == names
