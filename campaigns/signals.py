"""Signals ``campaigns`` sends so ``vendors`` can follow without being imported.

Both are sent inside the transaction that changed the leads, so a receiver
writing rows (the delivery outbox) commits or rolls back with them.
"""
from django.dispatch import Signal

# kwargs: leads (list[Lead]) - newly accepted leads
leads_accepted = Signal()
# kwargs: leads (list[Lead]), operation ("end_contact" | "dnc" | "erase")
leads_withdrawn = Signal()
# kwargs: campaign, old, new - a campaign's status changed (sent after save)
campaign_status_changed = Signal()
