#!/usr/bin/env python
import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadhub.settings")
    from django.core.management import execute_from_command_line

    from leadhub import ConfigurationError

    try:
        execute_from_command_line(sys.argv)
    except ConfigurationError as exc:  # a missing or wrong setting: say which, in one line
        sys.exit(f"LeadHub is not configured: {exc}")
