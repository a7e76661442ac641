"""LeadHub settings. Every value comes from the environment (django-environ).

See README.md "Configuration" for the list of variables. A ``.env`` file (written by
``make`` for development: DEBUG on and generated keys) is read first; the environment
wins over it. In development (DEBUG on) a missing secret key or field-encryption key is
generated once into ``var/`` and reused; with DEBUG off both must be set, or every
command stops with one line naming the missing one (``leadhub.ConfigurationError``,
printed by manage.py and the WSGI entry point). With DEBUG off the HTTPS settings
default to safe values (README "Production").
"""
from pathlib import Path

import environ

from leadhub import ConfigurationError

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# `make` writes a development .env on first run (leadhub/devenv.py); the environment wins over it
ENV_FILE = Path(env.str("LEADHUB_ENV_FILE", default=str(BASE_DIR / ".env")))
if ENV_FILE.is_file():
    env.read_env(ENV_FILE)
VAR_DIR = Path(env.str("LEADHUB_VAR_DIR", default=str(BASE_DIR / "var")))

DEBUG = env.bool("DEBUG", default=False)


def _dev_secret(name: str, make) -> str:
    """Read a development secret from var/, generating it on first use."""
    path = VAR_DIR / name
    if path.exists():
        return path.read_text().strip()
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    value = make()
    path.write_text(value)
    path.chmod(0o600)
    return value


def _required_secret(var: str, dev_file: str, make) -> str:
    value = env.str(var, default="")
    if value:
        return value
    if not DEBUG:
        raise ConfigurationError(
            f"{var} is not set. With DEBUG off LeadHub refuses to start without it; "
            f"set {var} in the environment (README.md, Configuration), or run `make dev` once for development."
        )
    return _dev_secret(dev_file, make)


def _make_secret_key() -> str:
    from django.core.management.utils import get_random_secret_key

    return get_random_secret_key()


def _make_fernet_key() -> str:
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()


SECRET_KEY = _required_secret("SECRET_KEY", "secret_key", _make_secret_key)
# Comma-separated Fernet keys: the first encrypts, all decrypt (key rotation).
FIELD_ENCRYPTION_KEY = _required_secret("FIELD_ENCRYPTION_KEY", "field_encryption_key", _make_fernet_key)

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# --- HTTPS (README "Production"): with DEBUG off LeadHub assumes it is served over HTTPS
# behind a proxy that sets X-Forwarded-Proto; each value can be changed in the environment.
_https = not DEBUG
# "HEADER,value" as the proxy sends it; empty when no proxy is in front (the proxy must
# overwrite the header clients send, or a client could claim HTTPS)
_proxy_header = env.list("SECURE_PROXY_SSL_HEADER", default=["HTTP_X_FORWARDED_PROTO", "https"] if _https else [])
if _proxy_header and len(_proxy_header) != 2:
    raise ConfigurationError(
        f"SECURE_PROXY_SSL_HEADER must be 'HEADER,value' (e.g. HTTP_X_FORWARDED_PROTO,https), "
        f"not {','.join(_proxy_header)!r}.")
SECURE_PROXY_SSL_HEADER = tuple(_proxy_header) if _proxy_header else None
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=_https)
# load balancers probe the health endpoint over plain HTTP inside the network
SECURE_REDIRECT_EXEMPT = [r"^health/$"]
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31_536_000 if _https else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=_https)
# Asking browsers to preload HTTPS for the whole domain is hard to undo: the owner opts in.
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=_https)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=_https)

INSTALLED_APPS = [
    "leadhub.apps.LeadHubAdminConfig",  # django.contrib.admin with LeadHub's site (leadhub/admin_site.py)
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "phonenumber_field",
    "leadhub.postgres",  # registers the long-__in lookup (see leadhub/postgres)
    "campaigns",
    "vendors",  # before django_q: its qcluster command (a clean stop) replaces django-q2's
    "django_q",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "campaigns.audit.AdminActorMiddleware",  # who acts, for the audit log (campaigns/audit.py)
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "leadhub.urls"
WSGI_APPLICATION = "leadhub.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "vendors.alerts.context",  # the open-alerts banner of the admin pages
            ],
        },
    },
]

# --- database -------------------------------------------------------------
DATABASE_URL = env.str("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'leadhub.sqlite3'}")
DATABASES = {"default": env.db_url_config(DATABASE_URL)}
_db = DATABASES["default"]
if _db["ENGINE"] == "django.db.backends.sqlite3":
    if _db["NAME"] != ":memory:":
        Path(_db["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    # A web process and several workers write at once: WAL lets readers run
    # beside a writer, IMMEDIATE takes the write lock at BEGIN (no deadlocking
    # lock upgrades) and the timeout makes writers wait instead of failing.
    _db.setdefault("OPTIONS", {}).update(
        {
            "timeout": env.int("SQLITE_BUSY_TIMEOUT", default=30),
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
else:
    _db.setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
    _db.setdefault("CONN_HEALTH_CHECKS", True)
    # Server-side parameter binding lets psycopg prepare statements that run often
    # (claims, result writes): their planning cost more than their execution.
    _db.setdefault("OPTIONS", {}).setdefault("server_side_binding", env.bool("DB_SERVER_SIDE_BINDING", default=True))
    # The planner's price of a random page read, for this app's connections (empty: the server's own).
    # PostgreSQL's default (4) prices a disk that seeks; on SSDs it made the admin's campaign + status
    # filter walk the primary key backwards past other campaigns' newest rows instead of reading
    # lead_campaign_status_idx.
    if random_page_cost := env.str("DB_RANDOM_PAGE_COST", default="1.1"):
        _db["OPTIONS"].setdefault("options", f"-c random_page_cost={float(random_page_cost)}")
    # A prepared statement takes at most 65,535 parameters: this backend tells Django so
    # (bulk operations and the delete collector chunk) and binds long __in lists as one array.
    if _db["ENGINE"] == "django.db.backends.postgresql":
        _db["ENGINE"] = "leadhub.postgres"
_db.setdefault("TEST", {})
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- i18n / time ----------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
MEDIA_ROOT = VAR_DIR / "media"

# --- phone numbers ----------------------------------------------------------
DEFAULT_PHONE_REGION = env.str("DEFAULT_PHONE_REGION", default="US").upper()
PHONENUMBER_DEFAULT_REGION = DEFAULT_PHONE_REGION
PHONENUMBER_DB_FORMAT = "E164"
PHONENUMBER_DEFAULT_FORMAT = "E164"

# --- imports --------------------------------------------------------------
# one limit, stated in MB (10^6 bytes) on the upload page, in errors and in the README
IMPORT_MAX_FILE_BYTES = env.int("IMPORT_MAX_FILE_BYTES", default=200_000_000)
# off: an import reads, cleans and writes one batch after the other in one process and connection;
# on: cleaning runs in IMPORT_PARSE_WORKERS processes one batch ahead and batches are written in
# IMPORT_DB_LANES PostgreSQL connections at once (campaigns.imports.parallel); the outcome is the same
IMPORT_PARALLEL = env.bool("IMPORT_PARALLEL", default=True)
# processes that parse phone numbers ahead of the database work (0: inline)
IMPORT_PARSE_WORKERS = env.int("IMPORT_PARSE_WORKERS", default=2)
# PostgreSQL connections writing an import's batches in turn (one commits while the next are written;
# beyond the cores there are to feed them, more lanes only wait)
IMPORT_DB_LANES = env.int("IMPORT_DB_LANES", default=3)
DATA_UPLOAD_MAX_NUMBER_FIELDS = 10000

IMPORT_STALE_SECONDS = env.int("IMPORT_STALE_SECONDS", default=300)  # no heartbeat this long: resume the import
# an upload left at the mapping step this long is deleted with its file (hourly clean-up)
IMPORT_ABANDONED_HOURS = env.int("IMPORT_ABANDONED_HOURS", default=24)
# staff actions over more leads than this run in the background with progress (campaigns.bulk)
BULK_INLINE_MAX = env.int("BULK_INLINE_MAX", default=10_000)
# PostgreSQL connections working one bulk action at once (each takes 5,000 leads per transaction)
BULK_LANES = env.int("BULK_LANES", default=2)

# --- cache (API throttling counters): shared Redis when REDIS_URL is set --------
CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": env.str("REDIS_URL")}
          if env.str("REDIS_URL", default="") else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- background work (django-q2) -----------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
Q_CLUSTER = {
    "name": "leadhub",
    "workers": env.int("Q_WORKERS", default=2),
    # A task must finish (or be killed) before the broker hands it out again.
    "timeout": env.int("Q_TIMEOUT", default=300),
    "retry": env.int("Q_RETRY", default=360),
    "max_attempts": 3,
    "ack_failures": True,
    "catch_up": False,
    "save_limit": 1000,
    "poll": 0.5,
    "label": "Background tasks",
    # workers may start child processes (a large CSV import parses phones in a pool)
    "daemonize_workers": False,
    # django-q2 reads Q_CLUSTER_NAME from the environment to name the queue a cluster serves (two
    # deployments, or two test runs, on one Redis); it needs this key to be present
    "ALT_CLUSTERS": {},
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"
if env.bool("Q_SYNC", default=False):
    Q_CLUSTER["sync"] = True
if Q_CLUSTER["timeout"] >= Q_CLUSTER["retry"]:
    raise ConfigurationError("Q_TIMEOUT must be shorter than Q_RETRY, or tasks would run twice.")

# --- delivery pipeline ---------------------------------------------------
DELIVERY_THREADS = env.int("DELIVERY_THREADS", default=4)            # parallel senders per worker task
DELIVERY_LEASE_SECONDS = env.int("DELIVERY_LEASE_SECONDS", default=300)  # claimed rows return after this
DELIVERY_BACKOFF_BASE_SECONDS = env.float("DELIVERY_BACKOFF_BASE_SECONDS", default=5)
DELIVERY_LINGER_SECONDS = env.float("DELIVERY_LINGER_SECONDS", default=5)  # wait this long for retries due soon
# vendor call outcomes (vendors.outcomes): each accepted lead is read again after this long, this many per run
OUTCOME_POLL_SECONDS = env.int("OUTCOME_POLL_SECONDS", default=900)
OUTCOME_BATCH = env.int("OUTCOME_BATCH", default=200)
# partner webhooks (campaigns.webhooks): retried like deliveries (DELIVERY_BACKOFF_BASE_SECONDS, DELIVERY_LEASE_SECONDS)
WEBHOOK_MAX_ATTEMPTS = env.int("WEBHOOK_MAX_ATTEMPTS", default=8)
WEBHOOK_TIMEOUT_SECONDS = env.float("WEBHOOK_TIMEOUT_SECONDS", default=10)
WEBHOOK_KEEP_DAYS = env.int("WEBHOOK_KEEP_DAYS", default=30)  # finished events are deleted after this
# /health/: the oldest due delivery may wait this long before its "ok" turns false
HEALTH_MAX_DELIVERY_LAG_SECONDS = env.int("HEALTH_MAX_DELIVERY_LAG_SECONDS", default=900)

# --- mail (vendor alerts to the campaign's watchers, vendors.alerts) -----------
# EMAIL_URL as django-environ reads it: smtp+tls://user:password@host:587, consolemail:// (development)
vars().update(env.email_url("EMAIL_URL", default="consolemail://" if DEBUG else "smtp://localhost:25"))
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="LeadHub <leadhub@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
# the admin's address as staff reach it, for the links in alert mails
ADMIN_BASE_URL = env.str("ADMIN_BASE_URL", default="http://127.0.0.1:8000")

# --- API ------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # Partners authenticate with an API key (campaigns.api.authentication); the
    # partner API never uses sessions, so no CSRF and no browsable-API login.
    "DEFAULT_AUTHENTICATION_CLASSES": ["campaigns.api.authentication.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["campaigns.api.permissions.HasActiveApiKey"],
    "DEFAULT_THROTTLE_CLASSES": [
        "campaigns.api.throttling.PartnerSustainedThrottle",
        "campaigns.api.throttling.PartnerBurstThrottle",
    ],
    # Per API key. "partner" is the sustained rate, "partner_burst" caps spikes.
    "DEFAULT_THROTTLE_RATES": {
        "partner": env.str("API_RATE_PARTNER", default="6000/min"),
        "partner_burst": env.str("API_RATE_PARTNER_BURST", default="300/s"),
    },
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["campaigns.api.parsers.JSONParser"],
    "EXCEPTION_HANDLER": "campaigns.api.exceptions.exception_handler",
    "UNAUTHENTICATED_USER": None,
}
# A request body over this is refused: 413 request_too_large on the API (Django's own knob).
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=2_621_440)
SPECTACULAR_SETTINGS = {
    "TITLE": "LeadHub Partner API",
    "DESCRIPTION": (
        "Send leads to LeadHub and follow them to the dialling vendors.\n\n"
        "Authenticate with `X-API-Key: <key>` (or `Authorization: Bearer <key>`). "
        "Every error has the shape `{code, message, fields}`; `fields` maps a field name to "
        "`[{code, message}]`. Every POST accepts an `Idempotency-Key` header (at most 255 characters; "
        "replayed for 24 h).\n\n"
        "Conventions: ids are integers. Text a lead or a vendor did not give is `\"\"`, never null; null "
        "means \"not applicable here\" (the id of a rejected item, the error of an accepted one). "
        "Enums in responses may gain values without a new version: each is declared as its known values "
        "or another string, and a client must treat a value it does not know as unknown, not as an error.\n\n"
        "This document is served as YAML by default; ask for JSON with `/api/schema/?format=json` "
        "(or `Accept: application/vnd.oai.openapi+json`)."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # The schema and docs pages are public (they describe, they do not expose data).
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "campaigns.api.schema.document_body_errors",
        "campaigns.api.schema.document_headers",
        "campaigns.api.schema.nullable_references",
        "campaigns.api.schema.open_response_enums",
        "campaigns.api.schema.document_webhooks",
    ],
    # lead ids in paths (campaigns.api.urls.LeadIdConverter) are integers, as in every response
    "PATH_CONVERTER_OVERRIDES": {"lead_id": {"type": "integer", "minimum": 1, "maximum": 10**18 - 1}},
    "ENUM_NAME_OVERRIDES": {
        "LeadStatusEnum": "campaigns.models.Lead.Status",
        "CampaignStatusEnum": "campaigns.models.Campaign.Status",
        "WeekdayEnum": "campaigns.models.WEEKDAYS",
        "DeliveryStatusEnum": "vendors.models.Delivery.Status",
        "DeliveryOperationEnum": "vendors.models.Delivery.Operation",
        "BulkActionStatusEnum": "campaigns.models.BulkAction.Status",
    },
}

# --- logging --------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
