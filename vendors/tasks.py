"""Thin django-q2 entry points; the work lives in vendors.services."""
from . import services


def deliver_due(time_budget: float = 240):
    """Deliver everything due now (woken on commit, and every minute by the sweep)."""
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
