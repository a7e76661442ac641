from django.apps import AppConfig


class VendorsConfig(AppConfig):
    name = "vendors"
    verbose_name = "Vendor sync"

    def ready(self):
        from django.db.models.signals import post_migrate

        from campaigns import bulk, pipeline, requirements
        from campaigns.models import BulkAction

        from . import checks, receivers  # noqa: F401  (system checks, intake signal receivers)
        from .for_campaigns import pipeline as deliveries
        from .requirements import provider
        from .schedules import install_after_migrate
        from .planning import redeliver

        requirements.register(provider)  # intake checks leads against the campaign's destinations
        pipeline.register(deliveries)  # the one way campaigns reads deliveries (campaigns.pipeline)
        post_migrate.connect(install_after_migrate, sender=self)
        # re-delivery is a staff bulk action implemented here (campaigns never imports vendors)
        bulk.register(BulkAction.Kind.REDELIVER, bulk.Action(
            "Re-delivering {total} leads", "Queued again {planned} push(es) of {changed} of {total} selected leads",
            lambda action, lead_ids: redeliver(lead_ids)))
