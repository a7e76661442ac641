import os
import sys

from django.core.wsgi import get_wsgi_application

from leadhub import ConfigurationError

# gunicorn's "worker failed to boot": its master stops, instead of restarting the worker forever
WORKER_BOOT_ERROR = 3

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadhub.settings")
try:
    application = get_wsgi_application()
except ConfigurationError as exc:  # a missing or wrong setting: say which, in one line
    print(f"LeadHub is not configured: {exc}", file=sys.stderr)
    sys.exit(WORKER_BOOT_ERROR)
