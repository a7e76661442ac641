"""The periodic schedules LeadHub needs (installed after every `migrate` and by `setup_schedules`)."""

SCHEDULES = [
    # the safety net of the outbox: anything due (retries, opened windows, lost wake-ups)
    {"name": "leadhub: deliver due", "func": "vendors.tasks.deliver_due", "schedule_type": "I", "minutes": 1},
    {"name": "leadhub: prune attempts", "func": "vendors.tasks.prune_attempts", "schedule_type": "D", "minutes": None},
    # imports whose worker died stop sending heartbeats: resume them
    {"name": "leadhub: resume stalled imports", "func": "campaigns.tasks.resume_stalled_imports",
     "schedule_type": "I", "minutes": 5},
    # uploads nobody finished mapping (IMPORT_ABANDONED_HOURS): their rows and files go
    {"name": "leadhub: delete abandoned uploads", "func": "campaigns.tasks.delete_abandoned_uploads",
     "schedule_type": "H", "minutes": None},
    # the dashboard's counters: fold the day's delta rows into one row per key
    {"name": "leadhub: compact dashboard counts", "func": "vendors.tasks.compact_counts", "schedule_type": "I",
     "minutes": 1},
    # vendor alerts: thresholds per destination, read from the dashboard's counters (vendors.alerts)
    {"name": "leadhub: check alerts", "func": "vendors.tasks.check_alerts", "schedule_type": "I", "minutes": 1},
    # bulk staff actions (campaigns.bulk) whose worker died: resume them after the last committed chunk
    {"name": "leadhub: resume stalled bulk actions", "func": "campaigns.tasks.resume_stalled_bulk_actions",
     "schedule_type": "I", "minutes": 5},
    # vendor call outcomes (vendors.outcomes); each lead is read again after OUTCOME_POLL_SECONDS
    {"name": "leadhub: read vendor outcomes", "func": "vendors.tasks.read_outcomes", "schedule_type": "I",
     "minutes": 1},
    # partner webhook events (campaigns.webhooks): the safety net of their outbox, as for deliveries
    {"name": "leadhub: send partner events", "func": "campaigns.tasks.send_partner_events", "schedule_type": "I",
     "minutes": 1},
    {"name": "leadhub: prune partner events", "func": "campaigns.tasks.prune_partner_events", "schedule_type": "D",
     "minutes": None},
    # Idempotency-Key records are kept 24 h
    {"name": "leadhub: purge idempotency keys", "func": "campaigns.api.idempotency.purge_expired",
     "schedule_type": "H", "minutes": None},
]


def install_schedules(Schedule=None):
    if Schedule is None:
        from django_q.models import Schedule
    done = []
    for spec in SCHEDULES:
        spec = dict(spec)
        name = spec.pop("name")
        _, created = Schedule.objects.update_or_create(name=name, defaults={**spec, "repeats": -1})
        done.append((name, created))
    return done



def install_after_migrate(sender, apps=None, **kwargs):
    """post_migrate receiver: a schedule added to SCHEDULES is installed by the next
    ``migrate`` (and after ``flush``), without a migration of its own."""
    if apps is None:  # flush sends no migration state
        from django.apps import apps
    try:
        Schedule = apps.get_model("django_q", "Schedule")
    except LookupError:  # django_q is not migrated on this database (yet)
        return
    install_schedules(Schedule)
