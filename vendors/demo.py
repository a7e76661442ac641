"""Demo vendor accounts for `seed_demo`: every registered vendor with a ``demo`` set-up,
pointing at the local sandbox (``/<kind>`` plus the set-up's path)."""
from . import registry
from .models import Destination, VendorAccount


def create_demo_vendors(solar, cover, sandbox_url: str) -> None:
    campaigns = {"solar": solar, "cover": cover}
    sandbox_url = sandbox_url.rstrip("/")
    for kind, vendor in registry.vendors().items():
        demo = vendor.client_class.demo
        if demo is None:
            continue
        account, _ = VendorAccount.objects.get_or_create(
            name=f"{vendor.label} (sandbox)",
            defaults=dict(kind=kind, max_requests_per_second=50, timeout_seconds=10,
                          base_url=f"{sandbox_url}/{kind}{demo.path}", credentials=dict(demo.credentials)))
        Destination.objects.get_or_create(campaign=campaigns[demo.campaign], account=account,
                                          remote_ref=demo.remote_ref,
                                          defaults={"settings": dict(demo.settings), "secret": demo.secret})
