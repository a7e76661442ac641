import datetime as dt

import pytest

from campaigns.models import WEEKDAYS
from vendors.models import Destination, VendorAccount


@pytest.fixture
def open_campaign(campaign):
    """A campaign whose calling window is (almost) always open."""
    campaign.calling_days = ",".join(WEEKDAYS)
    campaign.calling_start = dt.time(0, 0)
    campaign.calling_end = dt.time(23, 59, 59)
    campaign.save()
    return campaign


@pytest.fixture
def aktify(sandbox, open_campaign):
    account = VendorAccount.objects.create(name="Aktify sandbox", kind="aktify", base_url=sandbox.url("aktify"),
                                           timeout_seconds=2, max_requests_per_second=1000, max_attempts=3)
    return Destination.objects.create(campaign=open_campaign, account=account, secret="ak-secret-key-123")


@pytest.fixture
def aimylogic(sandbox, open_campaign):
    account = VendorAccount.objects.create(name="Aimylogic sandbox", kind="aimylogic",
                                           base_url=sandbox.url("aimylogic"), timeout_seconds=2,
                                           max_requests_per_second=1000)
    return Destination.objects.create(campaign=open_campaign, account=account, secret="aimy-token-987")


@pytest.fixture
def comunik8(sandbox, open_campaign):
    account = VendorAccount.objects.create(name="Comunik8 sandbox", kind="comunik8", base_url=sandbox.url("comunik8"),
                                           credentials={"api_key": "c8-key-555"}, timeout_seconds=2,
                                           max_requests_per_second=1000)
    return Destination.objects.create(campaign=open_campaign, account=account, remote_ref="solar")


def row(n: int, **extra) -> dict:
    return {"phone": f"+1415555{n:04d}", "first_name": "Ada", "last_name": f"L{n}", "email": f"a{n}@example.com",
            "region": "CA", "postal_code": "94103", **extra}


@pytest.fixture
def queued(monkeypatch):
    """Enqueue tasks on the real broker instead of running them inline."""
    from django_q.conf import Conf

    monkeypatch.setattr(Conf, "SYNC", False)
