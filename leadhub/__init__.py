from django.core.exceptions import ImproperlyConfigured


class ConfigurationError(ImproperlyConfigured):
    """A setting LeadHub cannot start without is missing or wrong. Its message says what to
    set; ``manage.py`` and the WSGI entry point print it as one line, not a traceback."""
