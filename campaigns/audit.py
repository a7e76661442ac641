"""Who did what, in Django's admin log (``LogEntry``), whichever way it was done.

Cancel, DNC, erase, campaign pause and resume, API key issue and revocation and imports are
recorded where they happen (``intake``, ``Campaign.save``, ``ApiKey``, the importer), so the
admin, the partner API, commands and the pipeline all leave the same entry: on the object's
History page and in the searchable "Audit log" list. The entry points say who is acting
(``acting_as``: the admin middleware for staff, the API authentication for a partner's key); a
command names itself, anything else is "pipeline". LogEntry needs a user, so actions without a
staff member are logged under the inactive ``leadhub`` system user with the actor in the message.
Edits made through admin forms (destinations, vendor accounts, credentials) are logged by the
admin itself, naming the changed fields and never their values.
"""
from __future__ import annotations

import contextvars
import getpass
import sys
from contextlib import contextmanager
from dataclasses import dataclass

from django.contrib.admin.models import ADDITION, CHANGE, LogEntry

SYSTEM_USERNAME = "leadhub"


@dataclass(frozen=True)
class Actor:
    label: str              # "staff:alice", "api:acme (key lh_1a2b3c4d)", "command:import_leads (root)", "pipeline"
    user_id: int | None = None


_actor: contextvars.ContextVar[Actor | None] = contextvars.ContextVar("leadhub_actor", default=None)


@contextmanager
def acting_as(label: str, user=None):
    token = _actor.set(Actor(label, getattr(user, "pk", None)))
    try:
        yield
    finally:
        _actor.reset(token)


def set_actor(label: str, user=None) -> None:
    """For the rest of this context (a request: the middleware resets it when the request ends)."""
    _actor.set(Actor(label, getattr(user, "pk", None)))


def current() -> Actor:
    actor = _actor.get()
    if actor is not None:
        return actor
    argv = sys.argv
    if len(argv) > 1 and argv[0].endswith("manage.py") and argv[1] != "qcluster":
        return Actor(f"command:{argv[1]} ({getpass.getuser()})")
    return Actor("pipeline")


def _system_user_id() -> int:
    from django.contrib.auth import get_user_model

    user, _ = get_user_model().objects.get_or_create(
        username=SYSTEM_USERNAME, defaults={"is_active": False, "password": "!"})
    return user.pk


def record(objects, message: str, *, added: bool = False) -> None:
    """One LogEntry per object: ``message`` and who did it."""
    objects = list(objects)
    if not objects:
        return
    actor = current()
    LogEntry.objects.log_actions(
        user_id=actor.user_id or _system_user_id(), queryset=objects, action_flag=ADDITION if added else CHANGE,
        change_message=f"{message} — by {actor.label}"[:2000])


class AdminActorMiddleware:
    """Staff requests act as ``staff:<username>``."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            with acting_as(f"staff:{user.get_username()}", user):
                return self.get_response(request)
        token = _actor.set(None)
        try:
            return self.get_response(request)
        finally:
            _actor.reset(token)
