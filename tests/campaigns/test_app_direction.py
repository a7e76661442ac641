"""One direction between the apps (issue 13, item 6): campaigns learns about deliveries only through
the hook ``campaigns.pipeline``, and its admin pages are extended only through ``campaigns.admin.extend``."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from campaigns import intake, pipeline, withdrawals
from campaigns.admin import EXTENSIONS, AdminExtension, extend
from campaigns.api import deliveries

ROOT = Path(__file__).resolve().parents[2]


def modules(app: str):
    return [p for p in (ROOT / app).rglob("*.py") if "migrations" not in p.parts]


def test_campaigns_never_imports_vendors_nor_reads_its_models_by_name():
    for path in modules("campaigns"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                assert not (node.module or "").startswith("vendors"), path
            elif isinstance(node, ast.Import):
                assert not any(a.name.startswith("vendors") for a in node.names), path
            elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in (
                    "get_model", "import_module", "import_string") and node.args:
                first = node.args[0]
                assert not (isinstance(first, ast.Constant) and str(first.value).startswith("vendors")), path
            elif isinstance(node, ast.ExceptHandler) and isinstance(node.type, ast.Name):
                assert node.type.id not in ("ImportError", "FieldError", "LookupError"), path


def test_no_app_assigns_to_another_apps_admin_classes():
    for path in modules("vendors"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        imported = {a.asname or a.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                    and (node.module or "").startswith("campaigns") for a in node.names}
        for node in ast.walk(tree):
            if isinstance(node, (ast.Assign, ast.AugAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name):
                        assert target.value.id not in imported, (path, target.value.id, target.attr)


@pytest.fixture
def no_pipeline(monkeypatch):
    monkeypatch.setattr(pipeline, "_pipeline", None)


def test_without_a_pipeline_a_withdrawn_lead_has_nothing_to_report(no_pipeline, campaign, make_lead):
    lead = make_lead(campaign)
    intake.cancel_leads([lead.pk])
    assert withdrawals.per_lead([lead.pk]) == {lead.pk: []}
    assert withdrawals.summary([lead.pk], "end_contact") == []
    assert deliveries.delivery_choices("status") == []
    assert pipeline.vendors_holding(lead) == []


def test_an_admin_extension_adds_its_column_and_page_step_to_the_lead_list(admin_client, campaign, make_lead):
    make_lead(campaign, first_name="Grace")
    seen = []

    def shout(lead):
        return lead.first_name.upper() + "!"

    extension = AdminExtension(lead_columns=[shout], lead_page_steps=[seen.append])
    extend(extension)
    try:
        page = admin_client.get("/admin/campaigns/lead/").content.decode()
    finally:
        EXTENSIONS.remove(extension)
    assert "GRACE!" in page and [[lead.first_name for lead in leads] for leads in seen] == [["Grace"]]
    assert "GRACE!" not in admin_client.get("/admin/campaigns/lead/").content.decode()


def test_seed_demo_makes_the_demo_vendor_accounts_through_the_pipeline(db, monkeypatch):
    import io

    from django.core.management import call_command

    from vendors import registry
    from vendors.models import VendorAccount

    monkeypatch.setattr(pipeline, "_pipeline", None)
    call_command("seed_demo", leads=2, sandbox_url="http://127.0.0.1:8765", stdout=io.StringIO())
    assert not VendorAccount.objects.exists()
    monkeypatch.undo()
    call_command("seed_demo", leads=2, sandbox_url="http://127.0.0.1:8765", stdout=io.StringIO())
    assert sorted(VendorAccount.objects.values_list("kind", flat=True)) == sorted(registry.kinds())
