"""Per-key throttling: 429 with Retry-After, in the error shape, counted per key."""
from __future__ import annotations

from django.test import override_settings
from rest_framework.settings import api_settings

RATES = {**api_settings.DEFAULT_THROTTLE_RATES}


def rest_framework_with(**rates):
    from django.conf import settings

    return override_settings(REST_FRAMEWORK={**settings.REST_FRAMEWORK,
                                             "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], **rates}})


def test_the_sustained_rate_gives_429_with_retry_after(api, campaign):
    with rest_framework_with(partner="3/min"):
        codes = [api.get("/api/v1/campaigns/").status_code for _ in range(4)]
        r = api.get("/api/v1/campaigns/")
    assert codes == [200, 200, 200, 429]
    assert r.status_code == 429
    assert int(r["Retry-After"]) > 0
    assert r.json()["code"] == "throttled" and "Retry" in r.json()["message"]
    assert set(r.json()) == {"code", "message", "fields"}


def test_the_burst_rate_applies_too(api, campaign):
    with rest_framework_with(partner_burst="2/s"):
        codes = [api.get("/api/v1/campaigns/").status_code for _ in range(3)]
    assert codes[-1] == 429


def test_each_key_has_its_own_budget(issue_key, partner, campaign):
    one, two = issue_key(partner), issue_key(partner)
    with rest_framework_with(partner="1/min"):
        assert one.get("/api/v1/campaigns/").status_code == 200
        assert one.get("/api/v1/campaigns/").status_code == 429
        assert two.get("/api/v1/campaigns/").status_code == 200
