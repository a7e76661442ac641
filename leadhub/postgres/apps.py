from django.apps import AppConfig


class PostgresConfig(AppConfig):
    name = "leadhub.postgres"
    label = "leadhub_postgres"
    verbose_name = "PostgreSQL backend"

    def ready(self):
        from .lookups import register

        register()
