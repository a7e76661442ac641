"""System checks for vendor configuration (run by `manage.py check` and at start-up)."""
from django.core.checks import Error, Tags, Warning, register
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError


@register("vendors", Tags.database)
def check_destinations(app_configs, databases=None, **kwargs):
    """Runs with `manage.py check --database default` and before `migrate`."""
    if not databases:
        return []
    from .models import Destination
    from .registry import client_class

    messages = []
    try:
        destinations = list(Destination.objects.select_related("account").filter(is_enabled=True))
    except DatabaseError:  # not migrated yet: nothing to check
        return []
    except ImproperlyConfigured as exc:  # stored secrets encrypted under another key
        return [Error(str(exc), hint="Set FIELD_ENCRYPTION_KEY to include the key the secrets were saved with "
                                     "(comma-separated keys: the first encrypts, all decrypt).", id="vendors.E004")]
    for dest in destinations:
        cls = client_class(dest.account.kind)
        where = f"Destination {dest.pk} ({dest})"
        if cls.needs_destination_secret and not dest.secret:
            messages.append(Error(f"{where} has no secret; {cls.label} needs one per campaign.",
                                  hint="Set it on the destination in the admin.", id="vendors.E001"))
        for key, problem in cls.validate_settings(dest.settings or {}).items():
            messages.append(Error(f"{where}: settings[{key!r}] {problem}", id="vendors.E002"))
        missing = [k for k in cls.required_credentials if not (dest.account.credentials or {}).get(k)]
        if missing:
            messages.append(Error(f"{where}: account {dest.account.name!r} lacks credentials {', '.join(missing)}.",
                                  id="vendors.E003"))
        if not (dest.account.base_url or cls.default_base_url):
            messages.append(Warning(f"{where}: account {dest.account.name!r} has no base URL.", id="vendors.W001"))
    return messages
