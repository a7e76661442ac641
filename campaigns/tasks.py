"""django-q2 entry points for CSV imports (the work is in campaigns.imports)."""
from __future__ import annotations

import time

from django.conf import settings

from .imports import jobs


def _slice_seconds() -> float:
    """Stop a run well inside the cluster's task timeout; the next run resumes it."""
    timeout = settings.Q_CLUSTER["timeout"]
    return max(30.0, timeout - 60)


def run_import(job_id: int) -> str:
    """Run or resume one ImportJob; re-enqueues itself if the time slice runs out."""
    status = jobs.run_job(job_id, deadline=time.monotonic() + _slice_seconds())
    if status == "continue":
        enqueue_import(job_id, resumed=True)
    return status


def enqueue_import(job_id: int, *, resumed: bool = False) -> str:
    from django_q.tasks import async_task

    return async_task("campaigns.tasks.run_import", job_id,
                      task_name=f"import-{job_id}{'-continued' if resumed else ''}-{time.time_ns()}")


def resume_stalled_imports() -> list[int]:
    """Schedule every few minutes: re-enqueues imports whose worker died mid-file."""
    return jobs.resume_stalled_jobs()


def delete_abandoned_uploads() -> int:
    """Schedule hourly: uploads nobody finished mapping in IMPORT_ABANDONED_HOURS go, with their files."""
    return jobs.delete_abandoned_uploads()


def run_bulk_action(action_id: int) -> str:
    """Run or resume one BulkAction; re-enqueues itself if the time slice runs out."""
    from . import bulk

    status = bulk.run(action_id, deadline=time.monotonic() + _slice_seconds())
    if status == "continue":
        enqueue_bulk_action(action_id)
    return status


def enqueue_bulk_action(action_id: int) -> str:
    from django_q.tasks import async_task

    return async_task("campaigns.tasks.run_bulk_action", action_id, task_name=f"bulk-{action_id}-{time.time_ns()}")


def resume_stalled_bulk_actions() -> list[int]:
    """Schedule every few minutes: re-enqueues bulk actions whose worker died mid-way."""
    from . import bulk

    return bulk.resume_stalled()


def send_partner_events(time_budget: float | None = None) -> dict:
    """Send due partner webhook events (woken on commit, and every minute by the sweep)."""
    from .webhooks import sending

    if time_budget is None:
        time_budget = 0.8 * settings.Q_CLUSTER["timeout"]
    return sending.send_due(time_budget=time_budget)


def prune_partner_events(days: int | None = None) -> int:
    """Daily: delete finished partner events written more than WEBHOOK_KEEP_DAYS ago."""
    from .webhooks import sending

    return sending.prune(settings.WEBHOOK_KEEP_DAYS if days is None else days)
