"""Idempotency-Key on POST: replay, conflict, expiry, errors, in-progress."""
from __future__ import annotations

import datetime as dt

import pytest

from django.utils import timezone

from campaigns.models import IdempotencyRecord, Lead

URL = "/api/v1/leads/"


def post(api, body, key, path=URL):
    return api.post(path, body, format="json", HTTP_IDEMPOTENCY_KEY=key)


def test_the_same_key_and_body_replays_the_first_response(api, campaign):
    first = post(api, {"campaign": "solar-us", "phone": "+14155552671"}, "k-1")
    assert first.status_code == 201 and "Idempotent-Replayed" not in first
    again = post(api, {"phone": "+14155552671", "campaign": "solar-us"}, "k-1")  # key order does not matter
    assert again.status_code == 201
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert Lead.objects.count() == 1


def test_the_same_key_with_a_different_body_is_a_422(api, campaign):
    post(api, {"campaign": "solar-us", "phone": "+14155552671"}, "k-2")
    r = post(api, {"campaign": "solar-us", "phone": "+14155552672"}, "k-2")
    assert r.status_code == 422
    assert r.json()["code"] == "idempotency_key_reused"
    assert set(r.json()) == {"code", "message", "fields"}
    assert Lead.objects.count() == 1


def test_the_same_key_on_another_path_or_query_is_a_different_request(api, campaign):
    post(api, {"campaign": "solar-us", "phone": "+14155552671"}, "k-3")
    r = api.post(URL + "?dry_run=true", {"campaign": "solar-us", "phone": "+14155552671"}, format="json",
                 HTTP_IDEMPOTENCY_KEY="k-3")
    assert r.status_code == 422


def test_keys_belong_to_one_api_key(issue_key, partner, campaign):
    one, two = issue_key(partner), issue_key(partner)
    assert post(one, {"campaign": "solar-us", "phone": "+14155552671"}, "shared").status_code == 201
    r = post(two, {"campaign": "solar-us", "phone": "+14155552672"}, "shared")
    assert r.status_code == 201 and "Idempotent-Replayed" not in r


def test_a_rejection_is_replayed_too(api, campaign, make_lead):
    make_lead(campaign, phone="+14155552671")
    first = post(api, {"campaign": "solar-us", "phone": "+14155552671"}, "k-4")
    assert first.status_code == 409
    Lead.objects.all().delete()
    again = post(api, {"campaign": "solar-us", "phone": "+14155552671"}, "k-4")
    assert again.status_code == 409 and again.json() == first.json() and again["Idempotent-Replayed"] == "true"
    assert not Lead.objects.exists()


def test_bulk_and_cancel_and_dnc_are_idempotent(api, campaign, partner, make_lead):
    body = {"campaign": "solar-us", "leads": [{"phone": "+14155552671"}, {"phone": "+14155552672"}]}
    first = post(api, body, "b-1", "/api/v1/leads/bulk/")
    again = post(api, body, "b-1", "/api/v1/leads/bulk/")
    assert again.status_code == 207 and again.json() == first.json() and again["Idempotent-Replayed"] == "true"
    assert Lead.objects.count() == 2
    lead = make_lead(campaign, partner=partner)
    assert post(api, None, "c-1", f"/api/v1/leads/{lead.pk}/cancel/").json()["cancelled"] is True
    assert post(api, None, "c-1", f"/api/v1/leads/{lead.pk}/cancel/").json()["cancelled"] is True  # replayed
    dnc = {"numbers": ["+14155553333"]}
    assert post(api, dnc, "d-1", "/api/v1/dnc/").json()["results"][0]["status"] == "added"
    assert post(api, dnc, "d-1", "/api/v1/dnc/").json()["results"][0]["status"] == "added"  # replayed


def test_a_key_is_kept_24_hours(api, campaign):
    post(api, {"campaign": "solar-us", "phone": "+14155552671"}, "k-5")
    IdempotencyRecord.objects.update(created_at=timezone.now() - dt.timedelta(hours=25))
    r = post(api, {"campaign": "solar-us", "phone": "+14155552672"}, "k-5")
    assert r.status_code == 201 and "Idempotent-Replayed" not in r
    assert IdempotencyRecord.objects.count() == 1


def test_a_request_still_in_progress_answers_409(api, campaign):
    from campaigns.api.idempotency import request_fingerprint  # noqa: F401

    # The first request claimed the key but has not stored its response yet.
    first = post(api, {"campaign": "solar-us", "phone": "+14155552671"}, "k-6")
    IdempotencyRecord.objects.update(response_status=None, response_body=None)
    r = post(api, {"campaign": "solar-us", "phone": "+14155552671"}, "k-6")
    assert first.status_code == 201
    assert r.status_code == 409 and r.json()["code"] == "idempotency_in_progress" and r["Retry-After"] == "1"


@pytest.mark.no_contract("a patched bug answers 500 on purpose")
def test_a_server_error_releases_the_key(api, campaign, monkeypatch):
    from campaigns import intake

    def boom(*a, **k):
        raise RuntimeError("db down")

    monkeypatch.setattr(intake, "submit", boom)
    api.raise_request_exception = False
    r = post(api, {"campaign": "solar-us", "phone": "+14155552671"}, "k-7")
    assert r.status_code == 500
    assert not IdempotencyRecord.objects.exists()
    monkeypatch.undo()
    assert post(api, {"campaign": "solar-us", "phone": "+14155552671"}, "k-7").status_code == 201


def test_an_overlong_key_is_a_field_error(api, campaign):
    r = post(api, {"campaign": "solar-us", "phone": "+14155552671"}, "x" * 256)
    assert r.status_code == 400 and "Idempotency-Key" in r.json()["fields"]


def test_without_the_header_nothing_is_recorded(api, campaign):
    api.post(URL, {"campaign": "solar-us", "phone": "+14155552671"}, format="json")
    assert not IdempotencyRecord.objects.exists()


def test_purge_expired_deletes_old_records(api, campaign):
    from campaigns.api.idempotency import purge_expired

    post(api, {"campaign": "solar-us", "phone": "+14155552671"}, "k-8")
    assert purge_expired() == 0
    assert purge_expired(timezone.now() + dt.timedelta(hours=25)) == 1
