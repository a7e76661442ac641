"""Thin django-q2 entry points; the work lives in vendors.services."""
from django.conf import settings

from . import services


def deliver_due(time_budget: float | None = None):
    """Deliver everything due now (woken on commit, and every minute by the sweep).

    The run ends by 80 % of Q_TIMEOUT (240 s of the default 300), before django-q2
    would kill it with batches in hand."""
    if time_budget is None:
        time_budget = 0.8 * settings.Q_CLUSTER["timeout"]
    return services.deliver_due(time_budget=time_budget)


def sync_campaign_status(campaign_id: int):
    return [message for _, message in services.sync_campaign_status(campaign_id)]


def prune_attempts(days: int = 30):
    from django.core.management import call_command

    call_command("prune_attempts", days=days)


def compact_counts():
    """Fold the dashboard's delta rows (deliveries and intake) into one row per key."""
    from campaigns.models import IntakeCount
    from leadhub import rollup

    from . import counts

    return counts.compact() + rollup.compact(IntakeCount, IntakeCount.KEY, since=counts.recent_days()[0])


def check_alerts():
    """Raise or clear each destination's alert (vendors.alerts), every minute."""
    from . import alerts

    return alerts.check()


def read_outcomes():
    """Read the vendors' call outcomes back (vendors.outcomes), on a schedule."""
    from . import outcomes

    return outcomes.read_all()
