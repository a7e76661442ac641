"""Signals ``campaigns`` sends so ``vendors`` can follow without being imported.

Both are sent inside the transaction that changed the leads, so a receiver
writing rows (the delivery outbox) commits or rolls back with them.
"""
from django.dispatch import Signal

# kwargs: leads (list[Lead]) - newly accepted leads
leads_accepted = Signal()
# kwargs: leads (the withdrawn leads: lead ids, or Lead objects), operation ("end_contact" | "dnc" | "erase");
# bulk withdrawals send ids (a chunk of campaigns.intake.CHUNK at most) to build no objects
leads_withdrawn = Signal()
# kwargs: campaign, old, new - a campaign's status changed (sent after save)
campaign_status_changed = Signal()
