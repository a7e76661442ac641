"""What a withdrawal (cancel, DNC, erase) achieved at each vendor, in words staff and partners can act on.

``campaigns`` never imports ``vendors`` (the dependency points the other way): the
delivery rows and destinations come from the pipeline hook (``campaigns.pipeline``),
and a destination is asked whether its vendor has a call at all. Without a pipeline
there is simply nothing to report.

Per destination a withdrawn lead is

* ``withdrawn``: the vendor confirmed, or never held the lead (its push was not sent
  or was refused);
* ``pending``: the vendor is being told (or the push was in flight: it is told once
  the push lands);
* ``unsupported``: the vendor has no call for it (not every vendor can stop a contact,
  few can erase a person: ``VendorClient.supports``), so it was not told;
* ``failed``: the vendor refused, or LeadHub gave up retrying.
"""
from __future__ import annotations

from collections import defaultdict

from django.apps import apps
from django.db.models import Count

from . import pipeline

OUTCOMES = ("withdrawn", "pending", "unsupported", "failed")
# the lead's status -> the operation whose answer says whether the vendor was told
KEY_OPERATION = {"cancelled": "end_contact", "dnc": "end_contact", "erased": "erase"}
_OUTCOME_OF = {"accepted": "withdrawn", "pending": "pending", "in_flight": "pending", "unsupported": "unsupported",
               "rejected": "failed", "failed": "failed", "skipped": "failed"}
MESSAGE_LIMIT = 500


def per_lead(lead_ids) -> dict[int, list[dict]]:
    """{lead id: one outcome per destination} for the withdrawn leads among ``lead_ids``
    (leads not withdrawn are absent). Two queries whatever the number of leads."""
    source, Lead = pipeline.get(), apps.get_model("campaigns", "Lead")
    key_ops = {pk: KEY_OPERATION[status] for pk, status in
               Lead.objects.filter(pk__in=list(lead_ids), status__in=KEY_OPERATION).values_list("pk", "status")}
    if source is None or not key_ops:
        return {pk: [] for pk in key_ops}
    rows: dict[tuple[int, int], dict[str, dict]] = defaultdict(dict)
    kinds: dict[int, str] = {}
    for row in (source.deliveries().filter(lead_id__in=list(key_ops))
                .values("lead_id", "destination_id", "destination__account__kind", "operation", "status", "message")):
        rows[(row["lead_id"], row["destination_id"])][row["operation"]] = row
        kinds[row["destination_id"]] = row["destination__account__kind"]
    found: dict[int, list[dict]] = {pk: [] for pk in key_ops}
    for (lead_id, dest_id), by_op in sorted(rows.items()):
        outcome, message = _outcome(by_op.get(key_ops[lead_id]), by_op.get("push"))
        if outcome:
            found[lead_id].append({"vendor": kinds[dest_id], "destination": dest_id, "outcome": outcome,
                                   "message": message[:MESSAGE_LIMIT]})
    return found


def _outcome(key_row: dict | None, push: dict | None) -> tuple[str, str]:
    if key_row is not None:
        return _OUTCOME_OF[key_row["status"]], key_row["message"] or ""
    if push is None:
        return "", ""
    if push["status"] in ("skipped", "rejected", "failed"):
        return "withdrawn", "The vendor never held this lead: its push was not sent or not accepted."
    return "pending", "The push was on its way when the lead was withdrawn; the vendor is told once it lands."


def summary(leads, operation: str) -> list[dict]:
    """Per destination and outcome, how many of ``leads`` (a queryset or ids) it concerns,
    for the admin's messages: [{destination, outcome, count, message}]. One query."""
    source = pipeline.get()
    if source is None:
        return []
    groups = (source.deliveries().filter(lead_id__in=leads, operation=operation)
              .values("destination__account__name", "status", "code")
              .annotate(n=Count("id")).order_by("destination__account__name", "status"))
    merged: dict[tuple[str, str], dict] = {}
    for g in groups:
        outcome = _OUTCOME_OF[g["status"]]
        entry = merged.setdefault((g["destination__account__name"], outcome), {
            "destination": g["destination__account__name"], "outcome": outcome, "count": 0, "message": ""})
        entry["count"] += g["n"]
    for entry in merged.values():
        if entry["outcome"] == "unsupported":  # the same words for every row of a vendor
            entry["message"] = (source.deliveries().filter(lead_id__in=leads, operation=operation,
                                                           status="unsupported",
                                                           destination__account__name=entry["destination"])
                                .values_list("message", flat=True).first() or "")
    return list(merged.values())


def admin_messages(leads, operation: str) -> list[tuple[str, str]]:
    """(level, text) lines for the admin after a withdrawal: who is told, who could not be."""
    told, problems = [], []
    for entry in summary(leads, operation):
        name, n = entry["destination"], entry["count"]
        if entry["outcome"] == "withdrawn":
            told.append(f"{name}: done for {n}")
        elif entry["outcome"] == "pending":
            told.append(f"{name}: being told for {n}")
        elif entry["outcome"] == "unsupported":
            problems.append(("warning", f"{name} could not be told for {n} lead(s): {entry['message']}"))
        else:
            problems.append(("error", f"{name} failed for {n} lead(s); see the lead's deliveries."))
    lines = [("info", "Vendors: " + "; ".join(told) + ".")] if told else []
    return lines + problems


def erase_preview(leads) -> dict:
    """What erasing ``leads`` (a queryset) would do, for the confirmation pages: how many
    leads, and per destination holding some of them whether its vendor can erase and
    stop contact. Pushes not sent yet are simply not sent."""
    source = pipeline.get()
    open_leads = leads.exclude(status="erased")
    preview = {"count": open_leads.count(), "already_erased": leads.filter(status="erased").count(),
               "destinations": [], "unsent": 0}
    if source is None:
        return preview
    held = (source.deliveries().filter(lead_id__in=open_leads.values("pk"), operation="push",
                                    status__in=["accepted", "in_flight"])
            .values("destination_id").annotate(n=Count("lead_id", distinct=True)))
    counts = {g["destination_id"]: g["n"] for g in held}
    for dest in source.destinations().filter(pk__in=counts).select_related("account", "campaign").order_by("pk"):
        preview["destinations"].append({
            "name": str(dest.account), "campaign": dest.campaign.name, "leads": counts[dest.pk],
            "erases": dest.supports("erase"), "stops": dest.supports("end_contact"),
            "message": "" if dest.supports("erase") else dest.unsupported_message("erase"),
        })
    preview["unsent"] = source.deliveries().filter(lead_id__in=open_leads.values("pk"), operation="push",
                                                status="pending").count()
    return preview
