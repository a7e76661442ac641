"""Credentials never show up in logs, stored attempts or any admin page."""
import logging

import pytest
from django.urls import reverse

from campaigns import intake
from campaigns.models import WEEKDAYS
from vendors import services
from vendors.models import Delivery, DeliveryAttempt, Destination, VendorAccount

SECRETS = ["c8-secret-key-Zq9/+x", "aimy-token-SECRET-77", "tenant-secret-1", "eight-token-SECRET-2",
           "aktify-key-SECRET-3"]


@pytest.fixture
def everywhere(sandbox, campaign):
    campaign.calling_days, campaign.calling_start, campaign.calling_end = ",".join(WEEKDAYS), "00:00", "23:59:59"
    campaign.save()
    made = []
    for kind, base, creds, ref, secret in [
        ("comunik8", "/comunik8", {"api_key": SECRETS[0]}, "solar", ""),
        ("aimylogic", "/aimylogic", {}, "", SECRETS[1]),
        ("eightbyeight", "/eightbyeight/api/tstats/campaigns", {"tenant_id": SECRETS[2], "token": SECRETS[3]}, "55", ""),
        ("aktify", "/aktify", {}, "", SECRETS[4]),
    ]:
        account = VendorAccount.objects.create(name=kind, kind=kind, base_url=sandbox.base_url + base,
                                               credentials=creds, max_requests_per_second=1000)
        made.append(Destination.objects.create(campaign=campaign, account=account, remote_ref=ref, secret=secret,
                                               settings={"customer_id_field": "id"} if kind == "eightbyeight" else {}))
    return made


def test_no_secret_in_logs_attempts_or_admin_pages(everywhere, campaign, sandbox, admin_client, caplog):
    caplog.set_level(logging.DEBUG)
    [result] = intake.submit([{"phone": "+14155550123", "first_name": "Ada", "last_name": "L", "email": "a@example.com",
                               "region": "CA", "postal_code": "94103"}], campaign=campaign)
    sandbox.faults(error_503_rate=1, retry_after=1)  # first round: errors, with bodies stored
    services.deliver_due(threads=1)
    sandbox.faults()
    Delivery.objects.update(due_at=result.lead.created_at)
    services.deliver_due(threads=1)
    assert set(Delivery.objects.values_list("status", flat=True)) == {"accepted"}
    stored = " ".join(f"{a.request} {a.excerpt} {a.message}" for a in DeliveryAttempt.objects.all())
    stored += " ".join(Delivery.objects.values_list("message", flat=True))
    pages = [reverse("admin:vendors_vendoraccount_changelist"), reverse("admin:vendors_destination_changelist"),
             reverse("admin:vendors_delivery_changelist"),
             reverse("admin:campaigns_lead_change", args=[result.lead.pk])]
    pages += [reverse("admin:vendors_vendoraccount_change", args=[d.account_id]) for d in everywhere]
    pages += [reverse("admin:vendors_destination_change", args=[d.pk]) for d in everywhere]
    pages += [reverse("admin:vendors_delivery_change", args=[pk]) for pk in Delivery.objects.values_list("pk", flat=True)]
    html = ""
    for url in pages:
        response = admin_client.get(url)
        assert response.status_code == 200, url
        html += response.content.decode()
    assert "(set)" in html  # the account page says which credentials are saved...
    for secret in SECRETS:  # ...and never what they are
        assert secret not in caplog.text, f"{secret} logged"
        assert secret not in stored, f"{secret} stored in an attempt"
        assert secret not in html, f"{secret} shown in the admin"
    assert "c8-secret-key-Zq9%2F%2Bx" not in stored + caplog.text  # nor URL-encoded in a query string
