"""Demo vendor accounts for `seed_demo`: all five vendors, pointing at the local sandbox."""
from .models import Destination, VendorAccount
from .registry import LABELS


def create_demo_vendors(solar, cover, sandbox_url: str) -> None:
    sandbox_url = sandbox_url.rstrip("/")
    accounts = {
        "aktify": dict(base_url=f"{sandbox_url}/aktify", credentials={}),
        "platform": dict(base_url=f"{sandbox_url}/platform/platform-api", credentials={"api_key": "demo-platform-key"}),
        "comunik8": dict(base_url=f"{sandbox_url}/comunik8", credentials={"api_key": "demo-comunik8-key"}),
        "eightbyeight": dict(base_url=f"{sandbox_url}/eightbyeight/api/tstats/campaigns",
                             credentials={"tenant_id": "demo-tenant", "token": "demo-8x8-token"}),
        "aimylogic": dict(base_url=f"{sandbox_url}/aimylogic", credentials={}),
    }
    made = {}
    for kind, fields in accounts.items():
        made[kind], _ = VendorAccount.objects.get_or_create(
            name=f"{LABELS[kind]} (sandbox)",
            defaults=dict(kind=kind, max_requests_per_second=50, timeout_seconds=10, **fields))
    destinations = [
        (solar, "aktify", "", {}, "demo-aktify-key"),
        (solar, "aimylogic", "", {"retryIntervalInMinutes": 60, "maxAttempts": 2}, "demo-aimylogic-token"),
        (solar, "eightbyeight", "1001", {"customer_id_field": "id"}, ""),
        (cover, "comunik8", "home-cover", {}, ""),
        (cover, "platform", "100", {}, ""),
    ]
    for campaign, kind, remote_ref, settings, secret in destinations:
        Destination.objects.get_or_create(campaign=campaign, account=made[kind], remote_ref=remote_ref,
                                          defaults={"settings": settings, "secret": secret})
