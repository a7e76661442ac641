from django.apps import AppConfig


class VendorsConfig(AppConfig):
    name = "vendors"
    verbose_name = "Vendor sync"

    def ready(self):
        from django.db.models.signals import post_migrate

        from campaigns import requirements

        from . import checks, receivers  # noqa: F401  (system checks, intake signal receivers)
        from .requirements import provider
        from .schedules import install_after_migrate

        requirements.register(provider)  # intake checks leads against the campaign's destinations
        post_migrate.connect(install_after_migrate, sender=self)
