"""Everything the platform needs, read from the environment (django-environ).

Defaults work on a fresh machine with nothing running: SQLite under ``var/`` and a file-system
Celery broker. Set ``DATABASE_URL`` and ``CELERY_BROKER_URL`` for PostgreSQL and Redis.
"""

from pathlib import Path

import environ
from django.conf import global_settings

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = Path(environ.Env().str("VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

env = environ.Env()
env_file = BASE_DIR / ".env"
if env_file.exists():
    env.read_env(str(env_file))

SECRET_KEY = env.str("SECRET_KEY", default="insecure-local-development-key-change-me")
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]", "testserver"])

INSTALLED_APPS = [
    "oscp_platform.apps.ConsoleAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "simple_history",
    "django_celery_beat",
    "oauth2_provider",
    "oscp_platform",
    "connections",
    "groups",
    "forecasts",
    "measurements",
    "roaming",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    "oscp_platform.metrics.RequestMetricsMiddleware",
]

ROOT_URLCONF = "oscp_platform.urls"
WSGI_APPLICATION = "oscp_platform.wsgi.application"

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
            ],
        },
    },
]

# An empty DATABASE_URL (e.g. `DATABASE_URL= pytest` to override .env) means the SQLite default.
_DATABASE_URL = env.str("DATABASE_URL", default="") or f"sqlite:///{VAR_DIR / 'db.sqlite3'}"
DATABASES = {"default": env.db_url_config(_DATABASE_URL)}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
# Persistent connections: a gunicorn worker or a Celery worker process handles one request or
# task at a time, so one kept connection each is all a pool would give; health-checked on reuse.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=600)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and env.bool(
    "DATABASE_PREPARED_STATEMENTS", default=True
):
    # Parameters bound by the server, and a statement a kept connection has run a few times
    # prepared, so it is not parsed and planned again (every forecast, report batch and heartbeat
    # batch runs the same few). Django turns psycopg's preparation off unless prepare_threshold is
    # given. Off for a pooler that cannot keep prepared statements.
    DATABASES["default"].setdefault("OPTIONS", {}).update(server_side_binding=True, prepare_threshold=5)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web server, worker and beat share one file: wait for locks instead of failing.
    DATABASES["default"].setdefault("OPTIONS", {}).update({"timeout": 20, "transaction_mode": "IMMEDIATE"})
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Django's hashers, plus the one for generated OAuth client secrets (connections/hashers.py).
CLIENT_SECRET_HASHER_PATH = "connections.hashers.ClientSecretHasher"
PASSWORD_HASHERS = [*global_settings.PASSWORD_HASHERS, CLIENT_SECRET_HASHER_PATH]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)

# --- Django REST framework --------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # JSON that cannot be stored (NaN, null characters, ...) is a 400 naming the place, not a 500.
    "DEFAULT_PARSER_CLASSES": [
        "oscp_platform.parsing.StrictJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "oscp_platform.api.exception_handler",
    "DEFAULT_PAGINATION_CLASS": "oscp_platform.api.ResponseEnvelopePagination",
    "PAGE_SIZE": env.int("API_PAGE_SIZE", default=100),
}

SPECTACULAR_SETTINGS = {
    "TITLE": "oscp-platform",
    "DESCRIPTION": "OSCP 2.0 Flexibility Provider: management API and protocol endpoints.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Management API responses in their SolarUser envelope; error responses documented.
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "oscp_platform.api.schema_postprocess",
    ],
    # One name for a choice set used by several fields.
    "ENUM_NAME_OVERRIDES": {
        "MeasurementPeriodEnum": "groups.choices.MeasurementPeriod",
        "EnergyTypeEnum": "groups.choices.EnergyType",
        "ForecastTypeEnum": "forecasts.choices.ForecastType",
        "MessageStatusEnum": "connections.choices.MessageStatus",
        "MessageDirectionEnum": "connections.choices.MessageDirection",
        "EnergyDirectionEnum": "groups.choices.EnergyDirection",
        "AdjustmentStatusEnum": "forecasts.choices.AdjustmentStatus",
        # OSCP wire enumerations (connections/oscp/serializers.py): values without labels.
        "OscpPhaseEnum": "connections.choices.PhaseIndicator.values",
        "OscpUnitEnum": "connections.choices.BlockUnit.values",
        "EnergyUnitsEnum": "connections.oscp.serializers.ENERGY_UNITS",
        "TokenTypeEnum": "roaming.choices.TokenType",
    },
}

# --- Secrets ----------------------------------------------------------------------------------
# Key for the HMAC-SHA256 digests of tokens partners present to us.
TOKEN_HMAC_KEY = env.str("TOKEN_HMAC_KEY", default=SECRET_KEY)
# Key(s) for encrypting secrets we present to partners (Fernet). Comma separated; the first
# encrypts, all decrypt, so a key can be rotated. Derived from SECRET_KEY when unset.
FIELD_ENCRYPTION_KEYS = env.list("FIELD_ENCRYPTION_KEYS", default=[])

# --- OSCP --------------------------------------------------------------------------------------
# The port the platform serves (`make run`); the advertised URLs follow it unless set explicitly.
PORT = env.int("PORT", default=8000)
# The base URL partners call us at; sent in our register messages.
OSCP_PUBLIC_BASE_URL = env.str("OSCP_PUBLIC_BASE_URL", default=f"http://127.0.0.1:{PORT}/oscp/fp/2.0")
OSCP_HTTP_CONNECT_TIMEOUT = env.float("OSCP_HTTP_CONNECT_TIMEOUT", default=5.0)
OSCP_HTTP_READ_TIMEOUT = env.float("OSCP_HTTP_READ_TIMEOUT", default=15.0)
# Heartbeats we send announce offline_mode_at = now + this multiple of the negotiated interval.
OSCP_OFFLINE_MULTIPLIER = env.float("OSCP_OFFLINE_MULTIPLIER", default=2.0)
# Seconds between runs of the heartbeat dispatcher and the offline check: a heartbeat leaves at
# most this long after it is due.
OSCP_HEARTBEAT_DISPATCH_SECONDS = env.float("OSCP_HEARTBEAT_DISPATCH_SECONDS", default=1.0)
# Partners whose heartbeats are written in one transaction (one INSERT, one schedule UPDATE).
OSCP_HEARTBEAT_BATCH = env.int("OSCP_HEARTBEAT_BATCH", default=1000)
# Outbound messages per broker task: claimed in one statement, recorded in one statement.
OSCP_OUTBOX_BATCH = env.int("OSCP_OUTBOX_BATCH", default=50)
# Sends in flight at once per worker process (threads over kept-alive HTTP connections).
OSCP_SEND_CONCURRENCY = env.int("OSCP_SEND_CONCURRENCY", default=8)
# How long an outbound message may keep being retried before it is dead.
OSCP_MESSAGE_DEADLINE_SECONDS = env.int("OSCP_MESSAGE_DEADLINE_SECONDS", default=24 * 3600)
# Outbox retries: exponential backoff from this base (seconds, with jitter), capped.
OSCP_RETRY_BASE_SECONDS = env.float("OSCP_RETRY_BASE_SECONDS", default=2.0)
OSCP_RETRY_MAX_SECONDS = env.float("OSCP_RETRY_MAX_SECONDS", default=600.0)
# The outbox sweeper re-queues pending messages overdue by more than this (a lost queue entry)...
OSCP_OUTBOX_SWEEP_GRACE_SECONDS = env.float("OSCP_OUTBOX_SWEEP_GRACE_SECONDS", default=60.0)
# ...and messages still `sending` this long after they were claimed (a killed worker). Keep it
# above the Celery task time limit so a slow but live worker is never doubled.
OSCP_OUTBOX_STUCK_SECONDS = env.float("OSCP_OUTBOX_STUCK_SECONDS", default=150.0)
# Message log rows older than this are pruned.
OSCP_MESSAGE_RETENTION_DAYS = env.int("OSCP_MESSAGE_RETENTION_DAYS", default=90)
# Segments of a split inbound message that never completes expire after this.
OSCP_SEGMENT_EXPIRY_SECONDS = env.int("OSCP_SEGMENT_EXPIRY_SECONDS", default=3600)
# Default fallback limits (kW) for groups with none of their own.
OSCP_DEFAULT_FALLBACK_IMPORT_KW = env.float("OSCP_DEFAULT_FALLBACK_IMPORT_KW", default=0.0)
OSCP_DEFAULT_FALLBACK_EXPORT_KW = env.float("OSCP_DEFAULT_FALLBACK_EXPORT_KW", default=0.0)
# Largest request body: a datum POST of 10,000 readings with several properties passes 2.5 MB.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=16 * 1024 * 1024)
# Seconds between group mode checks; a group is checked at most once per half of this.
GROUP_MODE_CHECK_SECONDS = env.int("GROUP_MODE_CHECK_SECONDS", default=10)
# Groups whose mode check one task runs (published per batch, not per group).
GROUP_MODE_CHECK_BATCH = env.int("GROUP_MODE_CHECK_BATCH", default=50)
# Forecasts received longer ago than this whose blocks have all ended, and envelope rows that
# ended this long ago, are pruned (a fleet's provider sends ~100 forecasts of 96 blocks per group
# a day).
FORECAST_RETENTION_DAYS = env.int("FORECAST_RETENTION_DAYS", default=35)
# Meter readings older than this are pruned.
MEASUREMENTS_READING_RETENTION_DAYS = env.int("MEASUREMENTS_READING_RETENTION_DAYS", default=35)
# Missed measurement periods sent (oldest first) when reporting resumes; older ones are dropped.
MEASUREMENT_CATCHUP_PERIODS = env.int("MEASUREMENT_CATCHUP_PERIODS", default=4)
# Report cursors one task reports together (one aggregation query, one transaction).
MEASUREMENT_REPORT_BATCH = env.int("MEASUREMENT_REPORT_BATCH", default=1000)
# A period is reported this long after it closes, so readings at its end have arrived.
MEASUREMENT_REPORT_DELAY_SECONDS = env.int("MEASUREMENT_REPORT_DELAY_SECONDS", default=30)
# Energy counters are read at a period's edges by interpolating between the nearest readings
# either side no further than this from the edge.
MEASUREMENTS_EDGE_TOLERANCE_SECONDS = env.int("MEASUREMENTS_EDGE_TOLERANCE_SECONDS", default=300)

# --- OAuth2 for partners calling us (django-oauth-toolkit) --------------------------------------
# Partners that do not use the OSCP register flow (Vector DERMS) get client credentials from staff
# and fetch access tokens at our token URL (client credentials grant only). Client secrets are
# stored hashed; access tokens only as SHA-256 checksums (RFC 9700 token storage).
OSCP_OAUTH_ACCESS_TOKEN_SECONDS = env.int("OSCP_OAUTH_ACCESS_TOKEN_SECONDS", default=3600)
# The token URL we give partners; derived from OSCP_PUBLIC_BASE_URL (…/oscp/fp/2.0 → …/oscp/oauth/token).
_public_base = OSCP_PUBLIC_BASE_URL.rstrip("/")
OSCP_OAUTH_TOKEN_URL = env.str(
    "OSCP_OAUTH_TOKEN_URL",
    default=_public_base.removesuffix("/fp/2.0") + "/oauth/token"
    if _public_base.endswith("/oscp/fp/2.0")
    else "/".join(_public_base.split("/")[:3]) + "/oscp/oauth/token",
)
OSCP_OAUTH_SCOPE = "oscp"
OAUTH2_PROVIDER_APPLICATION_MODEL = "oauth2_provider.Application"  # named for the link's migration
OAUTH2_PROVIDER = {
    "ACCESS_TOKEN_EXPIRE_SECONDS": OSCP_OAUTH_ACCESS_TOKEN_SECONDS,
    "CLIENT_SECRET_HASHER": "pbkdf2_sha256_client_secret",
    "SCOPES": {OSCP_OAUTH_SCOPE: "Call the OSCP 2.0 endpoints as this partner"},
    "DEFAULT_SCOPES": [OSCP_OAUTH_SCOPE],
    # RFC 9700 behaviour now rather than at DOT 4.0; above all, no plaintext tokens at rest.
    "COMPLIANT_BCP_RFC9700_TOKEN_STORAGE": True,
    "COMPLIANT_BCP_RFC9700_PASSWORD_GRANT": True,
    "COMPLIANT_BCP_RFC9700_IMPLICIT_GRANT": True,
    "COMPLIANT_BCP_RFC9700_ACCESS_TOKEN_TRANSPORT": True,
    # Flows we do not serve (only client credentials), made compliant all the same.
    "COMPLIANT_BCP_RFC9700_PKCE_METHOD": True,
    "COMPLIANT_BCP_RFC9700_AUTHZ_RESPONSE_ISS": True,
    "COMPLIANT_BCP_RFC9700_REDIRECT_URI_SCHEME": True,
    "ALLOWED_REDIRECT_URI_SCHEMES": ["https"],
    "COMPLIANT_BCP_RFC9700_REFRESH_TOKEN": True,
    "REFRESH_TOKEN_REUSE_PROTECTION": True,
}

# --- Celery ------------------------------------------------------------------------------------
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://localhost/")
if CELERY_BROKER_URL.startswith("filesystem://"):
    # kombu's file-system transport with whole-file writes and claims (oscp_platform/broker.py).
    CELERY_BROKER_TRANSPORT = "oscp_platform.broker:FileTransport"
    _broker_dir = VAR_DIR / "broker"
    for _sub in ("out", "processed", "control"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "out"),
        "data_folder_out": str(_broker_dir / "out"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
        # kombu polls the folder; its 1 s default caps a worker at a couple of tasks a second.
        "polling_interval": 0.05,
    }
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_TIME_LIMIT = 120
CELERY_TASK_SOFT_TIME_LIMIT = 100
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TIMEZONE = "UTC"
# django-celery-beat's DatabaseScheduler, run by one beat at a time and seen by /health/ready.
CELERY_BEAT_SCHEDULER = "oscp_platform.beat:Scheduler"
# Broker outages: workers and beat reconnect for as long as it takes instead of exiting; a
# publish gives up after about a second (the outbox sweeper publishes what was not).
CELERY_BROKER_CONNECTION_RETRY = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
CELERY_BROKER_CONNECTION_TIMEOUT = 4
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.5, "interval_max": 0.5}
# Every periodic job, declared in code. `manage.py sync_periodic_tasks` (run by `make run` and at
# deploy) writes them into django-celery-beat's tables where the admin shows them.
_DISPATCH = OSCP_HEARTBEAT_DISPATCH_SECONDS
CELERY_BEAT_SCHEDULE = {
    "heartbeats-dispatch": {"task": "connections.heartbeats_dispatch", "schedule": _DISPATCH},
    "partners-offline-check": {"task": "connections.partners_offline_check", "schedule": _DISPATCH},
    "outbox-sweep": {"task": "connections.outbox_sweep", "schedule": env.int("OSCP_OUTBOX_SWEEP_SECONDS", default=30)},
    "segments-expire": {"task": "connections.segments_expire", "schedule": 300},
    "messages-prune": {"task": "connections.messages_prune", "schedule": 3600},
    "oauth-access-tokens-prune": {"task": "connections.oauth_access_tokens_prune", "schedule": 3600},
    "groups-mode-check": {
        "task": "forecasts.groups_mode_check",
        "schedule": GROUP_MODE_CHECK_SECONDS,
    },
    "measurement-reports-dispatch": {
        "task": "measurements.reports_dispatch",
        "schedule": env.int("MEASUREMENT_DISPATCH_SECONDS", default=15),
    },
    "readings-prune": {"task": "measurements.readings_prune", "schedule": 3600},
    "forecasts-prune": {"task": "forecasts.forecasts_prune", "schedule": 3600},
}

# --- Health (/health/ready) ---------------------------------------------------------------------
# Beat records that it is alive every 5 s; older than this, the platform is not ready.
HEALTH_BEAT_MAX_AGE_SECONDS = env.int("HEALTH_BEAT_MAX_AGE_SECONDS", default=60)
# An outbound message due longer than this without a worker taking it: not ready.
HEALTH_OUTBOX_MAX_AGE_SECONDS = env.int("HEALTH_OUTBOX_MAX_AGE_SECONDS", default=300)

# --- Metrics (/metrics, Prometheus) ----------------------------------------------------------------
# When set, scrapers send `Authorization: Bearer <METRICS_TOKEN>`.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "oscp_platform.logs.JsonFormatter"},
    },
    # LOG_FORMAT=json: one JSON object per line (time, level, logger, message, process, exception).
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": env.str("LOG_FORMAT", default="plain")}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    # oauthlib logs issued access tokens at DEBUG: never below WARNING, whatever LOG_LEVEL says.
    "loggers": {name: {"level": "WARNING"} for name in ("oauthlib", "oauth2_provider")},
}

SIMPLE_HISTORY_HISTORY_CHANGE_REASON_USE_TEXT_FIELD = True

# --- OCPI 2.2.1 (roaming, we are the CPO) ----------------------------------------------------------
# Where partners reach our OCPI endpoints (…/ocpi; the versions URL is …/ocpi/versions).
OCPI_PUBLIC_BASE_URL = env.str("OCPI_PUBLIC_BASE_URL", default="http://127.0.0.1:8000/ocpi")
OCPI_COUNTRY_CODE = env.str("OCPI_COUNTRY_CODE", default="NL")
OCPI_PARTY_ID = env.str("OCPI_PARTY_ID", default="OSP")
OCPI_BUSINESS_NAME = env.str("OCPI_BUSINESS_NAME", default="oscp-platform")
# Largest page an OCPI list answers (announced in X-Limit).
OCPI_PAGE_LIMIT = env.int("OCPI_PAGE_LIMIT", default=100)
# How long a real-time authorization waits for the eMSP before the token's whitelist rule decides.
OCPI_AUTHORIZE_TIMEOUT_SECONDS = env.float("OCPI_AUTHORIZE_TIMEOUT_SECONDS", default=3.0)
