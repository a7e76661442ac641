from django.apps import AppConfig


class VendorsConfig(AppConfig):
    name = "vendors"
    verbose_name = "Vendor sync"

    def ready(self):
        from campaigns import requirements

        from . import checks, receivers  # noqa: F401  (system checks, intake signal receivers)
        from .requirements import provider

        requirements.register(provider)  # intake checks leads against the campaign's destinations
