import os
import sys

from django.core.wsgi import get_wsgi_application

from leadhub import ConfigurationError

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadhub.settings")
try:
    application = get_wsgi_application()
except ConfigurationError as exc:  # a missing or wrong setting: say which, in one line
    sys.exit(f"LeadHub is not configured: {exc}")
