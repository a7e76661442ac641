"""The registry is the one place that lists vendors (issue 13, item 2)."""
from __future__ import annotations

import datetime as dt
import inspect
import re
from pathlib import Path

import pytest
from django.core.management import call_command

from campaigns import intake
from campaigns.models import WEEKDAYS
from vendors import registry, services
from vendors.demo import create_demo_vendors
from vendors.models import Delivery, VendorAccount

ROOT = Path(__file__).resolve().parents[2]
SKIPPED_DIRS = {".venv", ".git", "tests", "migrations", "node_modules", "var"}


def source_files():
    for path in ROOT.rglob("*"):
        if path.suffix in (".py", ".html") and not SKIPPED_DIRS & set(path.relative_to(ROOT).parts):
            yield path


def test_each_vendor_is_named_only_in_its_client_its_sandbox_app_and_the_registry():
    texts = {path: path.read_text(encoding="utf-8").lower() for path in source_files()}
    for vendor in registry.vendors().values():
        names = {vendor.kind, vendor.label.split()[0].lower()}
        pattern = re.compile("|".join(re.escape(n) for n in names))
        allowed = {Path(inspect.getfile(vendor.client_class)), Path(inspect.getfile(vendor.sandbox_class)),
                   Path(registry.__file__)}
        named_in = {path for path, text in texts.items() if pattern.search(text)}
        assert named_in <= allowed, (vendor.kind, sorted(str(p.relative_to(ROOT)) for p in named_in - allowed))


def test_the_models_need_no_migration_that_is_not_written(db):
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)


def test_the_account_kinds_are_the_registered_vendors_in_order(db):
    assert registry.kind_choices() == [
        ("aktify", "Aktify"), ("platform", "ipSCAPE Platform API"), ("comunik8", "Comunik8"),
        ("eightbyeight", "8x8 Dynamic Campaigns"), ("aimylogic", "Aimylogic")]
    field = VendorAccount._meta.get_field("kind")
    assert list(field.choices) == registry.kind_choices()


def test_a_second_entry_for_a_kind_is_refused():
    with pytest.raises(ValueError, match="A vendor of kind 'aktify' is registered already"):
        registry.register("vendors.integrations.aktify.AktifyClient", "vendors.sandbox.aktify.AktifySim")
    assert len(registry.VENDORS) == len(registry.vendors()) == 5


def test_the_sandbox_serves_each_vendor_at_its_kind(sandbox):
    assert sorted(sandbox.state()) == sorted(registry.kinds())


@pytest.mark.django_db
def test_the_demo_accounts_reach_every_vendor_in_the_sandbox(sandbox, make_campaign):
    window = dict(calling_days=",".join(WEEKDAYS), calling_start=dt.time(0, 0), calling_end=dt.time(23, 59, 59))
    solar = make_campaign(timezone="America/New_York", default_region="US", **window)
    cover = make_campaign(timezone="Europe/London", default_region="GB", **window)
    create_demo_vendors(solar, cover, sandbox.base_url + "/")
    assert dict(VendorAccount.objects.values_list("kind", "base_url")) == {
        "aktify": f"{sandbox.base_url}/aktify",
        "platform": f"{sandbox.base_url}/platform/platform-api",
        "comunik8": f"{sandbox.base_url}/comunik8",
        "eightbyeight": f"{sandbox.base_url}/eightbyeight/api/tstats/campaigns",
        "aimylogic": f"{sandbox.base_url}/aimylogic",
    }
    person = {"first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com"}
    intake.submit([{"phone": "+14155550101", "region": "CA", "postal_code": "94103", **person}], campaign=solar)
    intake.submit([{"phone": "+447911123456", "postal_code": "SW1A 1AA", **person}], campaign=cover)

    services.deliver_due(threads=1, time_budget=30)

    outcomes = {d.destination.account.kind: (d.status, d.message)
                for d in Delivery.objects.select_related("destination__account")}
    assert outcomes == {kind: ("accepted", "") for kind in registry.kinds()}, outcomes
