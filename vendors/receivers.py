"""vendors follows campaigns through its signals (campaigns never imports vendors)."""
from django.db import transaction
from django.dispatch import receiver

from campaigns.signals import campaign_status_changed, leads_accepted, leads_withdrawn

from . import forgetting, planning


@receiver(leads_accepted, dispatch_uid="vendors.plan_push")
def plan_push(sender, leads, **kwargs):
    planning.plan_push(leads)


@receiver(leads_withdrawn, dispatch_uid="vendors.plan_withdrawal")
def plan_withdrawal(sender, leads, operation, **kwargs) -> int:
    planned = planning.plan_withdrawal(leads, operation)  # the sender counts the deliveries planned
    if operation == "erase":  # sent before intake wipes the leads: their details are still here
        forgetting.forget_personal_details({lead.pk: forgetting.personal_details(lead) for lead in leads})
    return planned


@receiver(campaign_status_changed, dispatch_uid="vendors.sync_campaign_status")
def campaign_status(sender, campaign, old, new, **kwargs):
    from django_q.tasks import async_task

    transaction.on_commit(lambda: async_task("vendors.tasks.sync_campaign_status", campaign.pk,
                                             task_name=f"campaign {campaign.pk} status"))
