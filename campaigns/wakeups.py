"""Coalesced wake-ups: queue a background run of some kind of work only when none is queued yet.

Used by both outboxes: vendor deliveries (``vendors.planning.wake``) and partner webhook events
(``campaigns.webhooks.sending.wake``). Every commit that writes work calls :func:`wake`, so a
burst of single-lead requests would queue a task per commit; the ``WakeUp`` row (one per kind)
makes it one: the first commit inserts it and queues the task, later ones see it and return (a
read, no write). The task calls :func:`woken` when it starts, deleting the row, so a commit after
that start queues the next wake-up and nothing committed is left for the periodic sweep (the
safety net). It lives here, not in ``vendors``, because ``campaigns`` never imports ``vendors``.
"""
from __future__ import annotations

import logging

from django.db import IntegrityError, transaction
from django.utils import timezone

from .models import WakeUp

log = logging.getLogger(__name__)


def wake(name: str, func: str, group: str) -> None:
    """Queue ``func`` (a django-q2 task path) as the run of ``name``, unless one is queued already."""
    from django_q.tasks import async_task

    if WakeUp.objects.filter(pk=name).exists():
        return
    try:
        with transaction.atomic():
            WakeUp.objects.create(name=name, queued_at=timezone.now())
    except IntegrityError:  # another process queued it a moment ago
        return
    try:
        async_task(func, task_name=name, group=group)
    except Exception:  # a dead broker delays work, never loses it
        WakeUp.objects.filter(pk=name).delete()  # so the next commit tries again
        log.warning("could not enqueue a wake-up (%s); the periodic sweep will pick the work up", name,
                    exc_info=True)


def woken(name: str) -> None:
    """A run of ``name`` starts: what commits from now on needs (and queues) a new wake-up."""
    WakeUp.objects.filter(pk=name).delete()
