"""Settings for the test suite: the normal settings with throwaway secrets."""
import os
import tempfile

os.environ.setdefault("DEBUG", "false")  # whatever a developer's .env says
os.environ.setdefault("SECRET_KEY", "test-secret-key-not-for-production")
os.environ.setdefault("FIELD_ENCRYPTION_KEY", "p2s2c9Qv3Qm0f1vRr3T3xY8Yk1bqzq8dZ9bq3Yd9rLk=")
os.environ.setdefault("LEADHUB_VAR_DIR", tempfile.mkdtemp(prefix="leadhub-test-"))

from leadhub.settings import *  # noqa: E402,F401,F403
from leadhub.settings import Q_CLUSTER  # noqa: E402

Q_CLUSTER["sync"] = True
# A file-backed SQLite test database, so a real qcluster subprocess can share it.
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):  # noqa: F405
    DATABASES["default"]["TEST"]["NAME"] = os.path.join(os.environ["LEADHUB_VAR_DIR"], "test.sqlite3")  # noqa: F405
# The suite runs with DEBUG off (production settings) but its test client speaks plain HTTP.
SECURE_SSL_REDIRECT = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
DELIVERY_THREADS = 1  # test transactions are invisible to other threads' connections
BULK_LANES = 1  # likewise (tests of the lanes use transactional test databases)
DELIVERY_BACKOFF_BASE_SECONDS = 5
DELIVERY_LINGER_SECONDS = 0  # tests step through retries themselves
