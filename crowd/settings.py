"""GazeCrowd settings: one module, read from the environment.

With no environment at all GazeCrowd runs embedded: an SQLite file and media files under
``GAZECROWD_DATA_DIR`` (default ``./var``) and Celery tasks executed eagerly in the calling
process. ``DATABASE_URL`` switches to PostgreSQL and ``CELERY_BROKER_URL`` to a real broker
whose tasks run on worker processes. Every variable is documented in README.md and in
``deploy/.env.example``; a malformed value stops start-up with a message naming it.
"""

from __future__ import annotations

import importlib.util
import secrets
from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from kombu import Exchange, Queue

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()


def _env(kind: str, name: str, default):
    """Read ``name`` with ``env.<kind>``; a malformed value fails loudly, naming the variable."""
    try:
        return getattr(env, kind)(name, default=default)
    except (ValueError, TypeError, environ.ImproperlyConfigured) as exc:
        raise ImproperlyConfigured(f"environment variable {name} is malformed: {exc}") from exc


DATA_DIR = Path(_env("str", "GAZECROWD_DATA_DIR", str(BASE_DIR / "var"))).resolve()
DEBUG = _env("bool", "DEBUG", True)


def _secret_key() -> str:
    """SECRET_KEY from the environment; the embedded default keeps a generated one on disk."""
    key = _env("str", "SECRET_KEY", "")
    if key:
        return key
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off")
    path = DATA_DIR / "secret_key"
    if not path.exists():
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(50))
    return path.read_text().strip()


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = _env("list", "ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = _env("list", "CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    # Swagger UI and Redoc served from the package (pinned in pyproject), never from a CDN.
    "drf_spectacular_sidecar",
    "axes",
    "crowd",
    "annotation",
    "segmentation",
]

MIDDLEWARE = [
    # First: /healthz answers container probes that have no allowed host name and no TLS.
    "crowd.health.HealthMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes requires: turns a locked-out login into its answer.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "crowd.urls"
WSGI_APPLICATION = "crowd.wsgi.application"
ASGI_APPLICATION = "crowd.asgi.application"

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

# --- Database -------------------------------------------------------------------------------
_default_db = f"sqlite:///{DATA_DIR / 'gazecrowd.sqlite3'}"
try:
    DATABASES = {"default": env.db_url("DATABASE_URL", default=_default_db)}
except (ValueError, KeyError, environ.ImproperlyConfigured) as exc:
    raise ImproperlyConfigured(f"environment variable DATABASE_URL is malformed: {exc}") from exc
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    # SQLite serialises writers; wait for the lock instead of failing under light concurrency.
    # The embedded default has two processes writing (web server and worker, `manage.py
    # serve`): write-ahead logging lets readers go on while one writes, and IMMEDIATE
    # transactions take the write lock at BEGIN, so two writers queue (for up to `timeout`)
    # instead of one failing with "database is locked" when it upgrades a read lock.
    DATABASES["default"].setdefault("OPTIONS", {}).update({
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    })
else:
    DATABASES["default"]["CONN_MAX_AGE"] = _env("int", "CONN_MAX_AGE", 60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# --- Login throttling (django-axes): failed logins are counted per account and per client
# address, in the database (shared by every process); past AXES_FAILURE_LIMIT failures within
# the cool-off the web login and the token endpoint answer 429 until it has passed. The same
# counts cover /accounts/login/, /api/auth/token/ and /admin/login/. nginx limits the request
# rate of both login URLs per address too (deploy/nginx.conf).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_ENABLED = _env("bool", "AXES_ENABLED", True)
AXES_FAILURE_LIMIT = _env("int", "AXES_FAILURE_LIMIT", 10)
AXES_COOLOFF_TIME = timedelta(minutes=_env("int", "AXES_COOLOFF_MINUTES", 15))
if AXES_FAILURE_LIMIT < 1 or AXES_COOLOFF_TIME <= timedelta(0):
    raise ImproperlyConfigured("AXES_FAILURE_LIMIT and AXES_COOLOFF_MINUTES must be positive")
# Either one locks: an account under attack from many addresses, or an address guessing
# many accounts.
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False  # no banner on every manage.py command
AXES_LOCKOUT_CALLABLE = "crowd.login.login_locked_out"
# Behind N reverse proxies (nginx: 1) the client's address is the N-th from the right of
# X-Forwarded-For; without a proxy, REMOTE_ADDR. Never trust the header with no proxy: a
# client could then pick any address, and its own lockout with it.
GAZECROWD_PROXY_COUNT = _env("int", "GAZECROWD_PROXY_COUNT", 0)
if GAZECROWD_PROXY_COUNT < 0:
    raise ImproperlyConfigured("GAZECROWD_PROXY_COUNT must be 0 or more (reverse proxies in front)")
AXES_CLIENT_IP_CALLABLE = "crowd.login.client_address"
# The token endpoint also has a request rate per client address (DRF's throttle, counted in
# each process's cache).
GAZECROWD_LOGIN_RATE = _env("str", "GAZECROWD_LOGIN_RATE", "30/min")

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Files ----------------------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = Path(_env("str", "STATIC_ROOT", str(DATA_DIR / "static")))
STATICFILES_DIRS = [p for p in [BASE_DIR / "static"] if p.exists()]
MEDIA_URL = "media/"
MEDIA_ROOT = Path(_env("str", "MEDIA_ROOT", str(DATA_DIR / "media")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
# Media on S3-compatible object storage (AWS S3, MinIO, Ceph...) through django-storages, an
# optional extra (``pip install "gazecrowd[s3]"``). Credentials are not settings: boto3 reads
# AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (or an instance role) from the environment itself.
MEDIA_STORAGE = _env("str", "MEDIA_STORAGE", "filesystem")
if MEDIA_STORAGE == "s3":
    if importlib.util.find_spec("storages") is None:
        raise ImproperlyConfigured(
            'MEDIA_STORAGE=s3 needs django-storages and boto3: pip install "gazecrowd[s3]"'
        )
    _bucket = _env("str", "AWS_STORAGE_BUCKET_NAME", "")
    if not _bucket:
        raise ImproperlyConfigured("MEDIA_STORAGE=s3 needs AWS_STORAGE_BUCKET_NAME (the bucket)")
    STORAGES["default"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": _bucket,
            "endpoint_url": _env("str", "AWS_S3_ENDPOINT_URL", "") or None,
            "region_name": _env("str", "AWS_S3_REGION_NAME", "") or None,
            "location": _env("str", "AWS_LOCATION", ""),
            # MinIO and most self-hosted stores want path-style URLs; AWS takes either.
            "addressing_style": _env("str", "AWS_S3_ADDRESSING_STYLE", "") or None,
            # Media are private (patients' images): no public ACL, downloads by signed URL.
            "default_acl": None,
            "querystring_auth": True,
            "querystring_expire": _env("int", "AWS_QUERYSTRING_EXPIRE", 3600),
            # Derived arrays are replaced on purpose (idempotent re-runs delete, then save);
            # uploads never silently overwrite one another.
            "file_overwrite": False,
        },
    }
elif MEDIA_STORAGE != "filesystem":
    raise ImproperlyConfigured(
        f"environment variable MEDIA_STORAGE is malformed: {MEDIA_STORAGE!r} "
        "(expected filesystem or s3)"
    )
# Largest upload accepted (sequences, tracker exports), in megabytes.
GAZECROWD_MAX_UPLOAD_MB = _env("int", "GAZECROWD_MAX_UPLOAD_MB", 2048)
if GAZECROWD_MAX_UPLOAD_MB <= 0:
    raise ImproperlyConfigured("GAZECROWD_MAX_UPLOAD_MB must be a positive number of megabytes")
# Budget of one sequence in pixels (frames x rows x columns; masks too): read from the file's
# headers (NIfTI header, the video stream's metadata, image headers, DICOM Rows/Columns/
# NumberOfFrames) and refused (413) before anything is decoded. Default: a 512x512x1000
# volume (1 GiB as float32), or 1,000 frames of 512x512, or 126 frames of 1920x1080.
GAZECROWD_MAX_SEQUENCE_PIXELS = _env("int", "GAZECROWD_MAX_SEQUENCE_PIXELS", 512 * 512 * 1000)
# Runs of sequences with at least this many pixels (frames x rows x columns) go the chunked way
# (segmentation.services.chunked_runs: memory flat in length, one run over many workers, the
# report and the baselines but vilarino's); smaller ones keep the whole-sequence path, which
# caches superpixels and estimates for later runs of the sequence. The whole-sequence path peaks near 13.5 MB per 854x480 frame (docs/benchmarks.md),
# so the default, 48 million pixels (117 frames of 854x480, 183 slices of 512x512), keeps it
# under about 1.7 GB. 0 chunks every run long enough for two chunks.
GAZECROWD_CHUNKED_RUN_MIN_PIXELS = _env("int", "GAZECROWD_CHUNKED_RUN_MIN_PIXELS", 48_000_000)
if GAZECROWD_CHUNKED_RUN_MIN_PIXELS < 0:
    raise ImproperlyConfigured("GAZECROWD_CHUNKED_RUN_MIN_PIXELS must be 0 or a positive number of pixels")
# Largest tracker file (gaze export) accepted, megabytes: its reader holds up to about five
# times the file in memory (256 MB: 9 million samples, 2.5 hours at 1 kHz).
GAZECROWD_MAX_GAZE_UPLOAD_MB = _env("int", "GAZECROWD_MAX_GAZE_UPLOAD_MB", 256)
# Files in one uploaded zip (frames or DICOM slices), counted before its directory is read.
GAZECROWD_MAX_ARCHIVE_FILES = _env("int", "GAZECROWD_MAX_ARCHIVE_FILES", 10_000)
if min(GAZECROWD_MAX_SEQUENCE_PIXELS, GAZECROWD_MAX_ARCHIVE_FILES, GAZECROWD_MAX_GAZE_UPLOAD_MB) <= 0:
    raise ImproperlyConfigured(
        "GAZECROWD_MAX_SEQUENCE_PIXELS, GAZECROWD_MAX_ARCHIVE_FILES and GAZECROWD_MAX_GAZE_UPLOAD_MB "
        "must be positive numbers"
    )
# DICOMweb servers (per study, crowd.services.dicomweb): seconds per request, and the largest
# response accepted in megabytes (a series is also budgeted in pixels from its QIDO metadata,
# GAZECROWD_MAX_SEQUENCE_PIXELS, before any instance is fetched).
GAZECROWD_DICOMWEB_TIMEOUT_S = _env("float", "GAZECROWD_DICOMWEB_TIMEOUT_S", 60.0)
GAZECROWD_DICOMWEB_MAX_MB = _env("int", "GAZECROWD_DICOMWEB_MAX_MB", 2048)
if not (0 < GAZECROWD_DICOMWEB_TIMEOUT_S <= 3600) or GAZECROWD_DICOMWEB_MAX_MB <= 0:
    raise ImproperlyConfigured(
        "GAZECROWD_DICOMWEB_TIMEOUT_S must be in (0, 3600] seconds and GAZECROWD_DICOMWEB_MAX_MB positive"
    )
# Key of the Fernet encryption of DICOMweb passwords at rest (any text; default: derived from
# SECRET_KEY, so changing SECRET_KEY means entering the passwords again).
GAZECROWD_DICOMWEB_KEY = _env("str", "GAZECROWD_DICOMWEB_KEY", "")
# Host names a study's DICOMweb server may have (comma-separated; empty: any). A coordinator
# chooses the URL the platform's server then requests: list the PACS hosts to keep it there.
GAZECROWD_DICOMWEB_HOSTS = [h.strip().lower() for h in _env("list", "GAZECROWD_DICOMWEB_HOSTS", []) if h.strip()]
DATA_UPLOAD_MAX_MEMORY_SIZE = _env("int", "DATA_UPLOAD_MAX_MEMORY_SIZE", 16 * 1024 * 1024)
# Uploads larger than this go to a temporary file instead of memory (bytes).
FILE_UPLOAD_MAX_MEMORY_SIZE = _env("int", "FILE_UPLOAD_MAX_MEMORY_SIZE", 8 * 1024 * 1024)
FILE_UPLOAD_TEMP_DIR = _env("str", "FILE_UPLOAD_TEMP_DIR", "") or None

# --- API ------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": [
        "crowd.rest.JSONParser",  # DRF's, with deep nesting a 400 instead of a RecursionError
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # ?limit= is capped (max_limit): a huge limit is a page of at most 1,000 rows.
    "DEFAULT_PAGINATION_CLASS": "crowd.rest.Pagination",
    "PAGE_SIZE": 100,
    # Bodies over DATA_UPLOAD_MAX_MEMORY_SIZE: a JSON 413, not Django's HTML 400 page.
    "EXCEPTION_HANDLER": "crowd.rest.exception_handler",
    "DEFAULT_THROTTLE_RATES": {"login": GAZECROWD_LOGIN_RATE},
    "NUM_PROXIES": GAZECROWD_PROXY_COUNT,  # the throttle's client address, as for django-axes
}
SPECTACULAR_SETTINGS = {
    "TITLE": "GazeCrowd API",
    "DESCRIPTION": "Studies, sequences, gaze recordings and gaze-derived ground truth.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Runs and gaze-boxes jobs share one set of states: one enum in the schema.
    "ENUM_NAME_OVERRIDES": {"JobStatusEnum": "segmentation.models.JobStatus"},
}

# --- Celery ---------------------------------------------------------------------------------
# No CELERY_BROKER_URL: the embedded default. Tasks travel through kombu's filesystem transport
# (one file per message under DATA_DIR/broker; no server to install) to the worker that
# `manage.py serve` starts beside the web server, so no job ever runs inside a web request.
# Chosen over kombu's SQLAlchemy transport on an SQLite file (bench/embedded_broker.py,
# docs/benchmarks.md "Embedded broker"): median pickup 253 ms against 1,031 ms (SQLAlchemy at
# its default 1 s poll, which it cannot change without passing the option to create_engine),
# both kept every task queued while the worker was down, and it needs no extra dependency nor
# a second writer on an SQLite file. Production sets redis://.
EMBEDDED_BROKER_DIR = DATA_DIR / "broker"
GAZECROWD_EMBEDDED_BROKER = not _env("str", "CELERY_BROKER_URL", "")
# "localhost" only silences kombu's warning about a missing host name; the folders are below.
CELERY_BROKER_URL = _env("str", "CELERY_BROKER_URL", "") or "filesystem://localhost/"
# Results go to the broker's Redis unless told otherwise (the tests read them back). The
# embedded default keeps none: every job writes its status and progress to its own row.
CELERY_RESULT_BACKEND = _env("str", "CELERY_RESULT_BACKEND", "") or (
    CELERY_BROKER_URL if CELERY_BROKER_URL.startswith(("redis://", "rediss://")) else None
)
if CELERY_BROKER_URL.split("://", 1)[0] not in {
    "redis", "rediss", "amqp", "amqps", "memory", "sqla+postgresql", "sqla+sqlite", "pyamqp",
    "filesystem",
}:
    raise ImproperlyConfigured(
        f"environment variable CELERY_BROKER_URL has an unknown scheme: {CELERY_BROKER_URL!r} "
        "(expected redis://host:port/db or amqp://..., or unset for the embedded broker)"
    )
# Eager (every task run inside the caller) only when asked: the test suite sets it per test
# (tests/conftest.py); batch commands such as `demo` run their jobs in their own process.
CELERY_TASK_ALWAYS_EAGER = _env("bool", "CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE
# Idempotent tasks: acknowledge after the work, redeliver when a worker dies mid-task.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = _env("int", "CELERY_TASK_TIME_LIMIT", 3600)
# The soft limit (the task may clean up) defaults to shortly before the hard one: 3300 s for
# the default 3600, so that setting only the hard limit never makes them inconsistent.
CELERY_TASK_SOFT_TIME_LIMIT = _env(
    "int", "CELERY_TASK_SOFT_TIME_LIMIT",
    CELERY_TASK_TIME_LIMIT - max(1, min(300, CELERY_TASK_TIME_LIMIT // 10)),
)
if not 0 < CELERY_TASK_SOFT_TIME_LIMIT < CELERY_TASK_TIME_LIMIT:
    raise ImproperlyConfigured(
        "CELERY_TASK_SOFT_TIME_LIMIT must be positive and shorter than CELERY_TASK_TIME_LIMIT "
        f"(got {CELERY_TASK_SOFT_TIME_LIMIT} and {CELERY_TASK_TIME_LIMIT} s)"
    )
# Longer than the longest task, or Redis redelivers a task that is still running. A task
# whose worker died unacknowledged is redelivered once this has passed since its delivery,
# found by a scan every CELERY_UNACKED_RESTORE_INTERVAL seconds (kombu's default scans only
# every 100 s).
_visibility_timeout = _env("int", "CELERY_VISIBILITY_TIMEOUT", CELERY_TASK_TIME_LIMIT + 600)
if _visibility_timeout <= CELERY_TASK_TIME_LIMIT:
    raise ImproperlyConfigured(
        f"CELERY_VISIBILITY_TIMEOUT ({_visibility_timeout} s) must be longer than "
        f"CELERY_TASK_TIME_LIMIT ({CELERY_TASK_TIME_LIMIT} s), or running tasks are redelivered"
    )
# The scan holds a Redis lock ("unacked_mutex") for a few milliseconds; a worker killed while
# holding it leaves the lock in place until it expires, and no task of a dead worker comes
# back meanwhile. kombu's default expiry is 300 s; a scan of at most 10 messages takes
# milliseconds, so 60 s keeps a wide margin and caps that extra delay (seen in CI: a worker
# killed mid-scan held a run back for over three minutes).
_unacked_mutex_expire = _env("int", "CELERY_UNACKED_MUTEX_EXPIRE", 60)
if _unacked_mutex_expire <= 0:
    raise ImproperlyConfigured(
        f"CELERY_UNACKED_MUTEX_EXPIRE must be a positive number of seconds "
        f"(got {_unacked_mutex_expire})"
    )
# Options of the Redis transport; other transports (the SQLAlchemy one passes its options on
# to create_engine) take none of these.
CELERY_BROKER_TRANSPORT_OPTIONS = {} if not CELERY_BROKER_URL.startswith("redis") else {
    "visibility_timeout": _visibility_timeout,
    "unacked_restore_interval": _env("int", "CELERY_UNACKED_RESTORE_INTERVAL", 10),
    "unacked_restore_throttle": 1,
    "unacked_mutex_expire": _unacked_mutex_expire,
}
if GAZECROWD_EMBEDDED_BROKER:
    for _folder in ("queue", "control", "processed"):
        (EMBEDDED_BROKER_DIR / _folder).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(EMBEDDED_BROKER_DIR / "queue"),
        "data_folder_out": str(EMBEDDED_BROKER_DIR / "queue"),
        "control_folder": str(EMBEDDED_BROKER_DIR / "control"),
        "processed_folder": str(EMBEDDED_BROKER_DIR / "processed"),
        "store_processed": False,
        # The worker looks for new message files this often (seconds): the pickup latency.
        "polling_interval": 0.25,
    }
CELERY_TASK_ROUTES = {
    "segmentation.estimate_*": {"queue": "quick"},
    "segmentation.run_*": {"queue": "long"},
    "segmentation.gaze_boxes_*": {"queue": "long"},
}
CELERY_TASK_DEFAULT_QUEUE = "celery"
# Declared, so that a worker started without -Q consumes all three; production runs separate
# workers: -Q quick (per-recording estimates, short) and -Q long (study runs), plus celery.
# Each queue on its own direct exchange and routing key, exactly as Celery creates a missing
# queue: a bare Queue("long") would be bound with the default key "celery", so a task sent to
# "long" would reach no worker, and a default task every queue.
CELERY_TASK_QUEUES = tuple(
    Queue(name, Exchange(name, type="direct"), routing_key=name)
    for name in ("celery", "quick", "long")
)
# STARTED is reported with the worker's name: progress pages and the fault tests read it.
CELERY_TASK_TRACK_STARTED = True
# Recycle a pool process after this many tasks / this much resident memory (KiB, 0 = no
# limit): numpy/torch work fragments the heap, and a long-lived worker otherwise only grows.
CELERY_WORKER_MAX_TASKS_PER_CHILD = _env("int", "CELERY_WORKER_MAX_TASKS_PER_CHILD", 100) or None
CELERY_WORKER_MAX_MEMORY_PER_CHILD = _env("int", "CELERY_WORKER_MAX_MEMORY_PER_CHILD", 0) or None
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A task running when the broker connection drops keeps running (Celery 6 will cancel it by
# default). With Redis its message comes back only after the visibility timeout, long after
# the task ended (time limit < visibility timeout), so two copies never run at once, and the
# redelivered copy finds the work done (tasks are idempotent). Cancelling would throw away
# up to an hour of a run for a one-second Redis restart and report it revoked meanwhile
# (measured in tests/faults/test_broker_loss.py).
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False

# --- Production hardening (applies when DEBUG is off) ---------------------------------------
if not DEBUG:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = _env("bool", "SECURE_SSL_REDIRECT", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = _env("int", "SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = _env("bool", "SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = _env("bool", "SECURE_HSTS_PRELOAD", True)
    SECURE_CONTENT_TYPE_NOSNIFF = True
    SESSION_COOKIE_HTTPONLY = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": _env("str", "LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        # Lockouts are logged as warnings; every login's bookkeeping stays out of the log.
        "axes": {"level": "WARNING"},
    },
}
