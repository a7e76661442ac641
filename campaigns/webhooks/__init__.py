"""Partner webhooks: signed JSON events about a partner's leads, POSTed to the URL it registered.

- ``events``: what an event says, and writing it to the outbox (``PartnerEvent``) in the
  transaction that made the change: ``push_answered`` (vendors' ``_record``), ``withdrawn``
  (intake's cancel, DNC, erase), ``outcomes`` (``vendors.outcomes``: what a dialler did);
- ``sending``: claim due events in order per lead, sign and POST them, retry or give up;
- ``signing``: the ``LeadHub-Signature`` header;
- ``docs``: the API docs' "Webhooks" section and the receivers' verification snippet;
- ``admin``: the events' read-only list, with "Replay selected events".
"""
from .events import PushAnswer, outcome, outcomes, push_answered, record, withdrawn  # noqa: F401
from .signing import new_secret  # noqa: F401
