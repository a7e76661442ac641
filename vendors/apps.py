from django.apps import AppConfig


class VendorsConfig(AppConfig):
    name = "vendors"
    verbose_name = "Vendor sync"

    def ready(self):
        from . import checks, receivers  # noqa: F401  (system checks, intake signal receivers)
