"""Settings from environment variables with safe local defaults.

Nothing set: SQLite file under ``var/`` and Celery tasks run in-process.
``DATABASE_URL`` switches to PostgreSQL; ``REDIS_URL`` or ``CELERY_BROKER_URL`` to a real
broker with worker processes. ``LOYALTY_ENV=production`` refuses insecure settings.
Every variable is listed in ``.env.example`` and docs/configuration.md.
"""

import os
import re
from decimal import Decimal, InvalidOperation
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("LOYALTY_VAR_DIR", BASE_DIR / "var"))

_TRUE = {"1", "true", "yes", "on"}
_INSECURE_KEY = "django-insecure-local-development-key-do-not-use-in-production"


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    return default if value is None else value.strip().lower() in _TRUE


def env_int(
    name: str, default: int, *, low: int | None = None, high: int | None = None, unit: str = ""
) -> int:
    """An integer variable; with `low` and `high`, one outside them refuses to start (a
    negative expiry stored points expiring before they were earned)."""
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be an integer, got {value!r}") from exc
    if low is not None and high is not None and not low <= number <= high:
        raise ImproperlyConfigured(f"{name} must be from {low} to {high} ({unit}), got {number}")
    return number


def env_rate(name: str, default: str) -> str:
    """A request rate as DRF reads it: `<count>/<second|minute|hour|day>` (or s, min, h, d).
    A malformed one made every throttled request a 500."""
    value = os.environ.get(name) or default
    if not re.fullmatch(r"[1-9][0-9]*/(s|sec|second|m|min|minute|h|hour|d|day)", value):
        raise ImproperlyConfigured(
            f"{name} must be a rate such as 120/min (per s, min, hour or day), got {value!r}"
        )
    return value


def env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    if value is None:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


def days_list(name: str, items: list[str]) -> list[int]:
    """`items` (of variable `name`) as whole numbers of days from 1 to 3650, sorted, unique."""
    if not all(item.isdecimal() and 1 <= int(item) <= 3650 for item in items):
        raise ImproperlyConfigured(
            f"{name} must be comma-separated whole numbers of days from 1 to 3650, "
            f"got {','.join(items)!r}"
        )
    return sorted({int(item) for item in items})


LOYALTY_ENV = os.environ.get("LOYALTY_ENV", "development")
if LOYALTY_ENV not in {"development", "production"}:
    raise ImproperlyConfigured("LOYALTY_ENV must be 'development' or 'production'")
PRODUCTION = LOYALTY_ENV == "production"

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", _INSECURE_KEY)
DEBUG = env_bool("DJANGO_DEBUG", default=False)

if PRODUCTION:
    if (
        SECRET_KEY == _INSECURE_KEY
        or len(SECRET_KEY) < 50
        or SECRET_KEY.startswith("django-insecure")
    ):
        raise ImproperlyConfigured(
            "LOYALTY_ENV=production needs DJANGO_SECRET_KEY set to a random value of 50+ characters"
        )
    if DEBUG:
        raise ImproperlyConfigured("LOYALTY_ENV=production refuses to start with DJANGO_DEBUG on")

ALLOWED_HOSTS = env_list(
    "DJANGO_ALLOWED_HOSTS", [] if PRODUCTION else ["localhost", "127.0.0.1", "[::1]", "testserver"]
)
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "members",
    "loyalty",
    "challenges",
    "metrics",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "loyalty.urls"
WSGI_APPLICATION = "loyalty.wsgi.application"

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

# Throttle counters and other shared state: Redis when there is one, else per process.
_redis_url = os.environ.get("REDIS_URL", "")
CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": _redis_url}
        if _redis_url
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}

_sqlite_path = VAR_DIR / "loyalty.sqlite3"
DATABASES = {
    "default": dj_database_url.config(
        env="DATABASE_URL",
        default=f"sqlite:///{_sqlite_path}",
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
# One transaction per request: an error anywhere leaves nothing half-written.
DATABASES["default"]["ATOMIC_REQUESTS"] = True
# Covering indexes (INCLUDE columns) serve the KPI member state's scans on PostgreSQL;
# SQLite, the zero-setup default, builds them without the extra columns, which is fine.
SILENCED_SYSTEM_CHECKS = ["models.W040"]
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    # Row locks do not exist on SQLite; IMMEDIATE transactions serialise writers instead,
    # and the timeout lets a second writer wait rather than fail with "database is locked".
    DATABASES["default"]["OPTIONS"] = {"transaction_mode": "IMMEDIATE", "timeout": 20}
    DATABASES["default"]["CONN_MAX_AGE"] = 0

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = os.environ.get("LANGUAGE_CODE", "en")
LANGUAGES = [("en", _("English")), ("ja", _("Japanese"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = os.environ.get("TIME_ZONE", "Asia/Tokyo")
USE_I18N = True
USE_TZ = True
# Yen and points read 263,460 rather than 263460 in the admin.
USE_THOUSAND_SEPARATOR = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}

if PRODUCTION:
    SESSION_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", True)
    CSRF_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# --- Celery -------------------------------------------------------------------------------
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL") or os.environ.get("REDIS_URL") or ""
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
if CELERY_TASK_ALWAYS_EAGER:
    CELERY_BROKER_URL = "memory://localhost/"  # a host named: kombu warns "No hostname" without one
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]

# --- Loyalty policy -----------------------------------------------------------------------
LOYALTY_CURRENCY = os.environ.get("LOYALTY_CURRENCY", "JPY")
if LOYALTY_CURRENCY != "JPY":
    # Amounts are whole yen throughout (models, labels, the dashboard): another code would
    # change nothing but the setting.
    raise ImproperlyConfigured("LOYALTY_CURRENCY must be JPY: other currencies are not supported")
# Base earn: 1 point per this many currency units, rounded down, then times the tier multiplier.
LOYALTY_YEN_PER_POINT = env_int("LOYALTY_YEN_PER_POINT", 100)
# "rolling" = N months after earning; "end_of_following_year" = 31 Dec of the next year.
LOYALTY_EXPIRY_POLICY = os.environ.get("LOYALTY_EXPIRY_POLICY", "rolling")
LOYALTY_EXPIRY_MONTHS = env_int("LOYALTY_EXPIRY_MONTHS", 12, low=1, high=120, unit="months")
# Purchase points wait this many days (return window) before they can be spent.
LOYALTY_PENDING_DAYS = env_int("LOYALTY_PENDING_DAYS", 0, low=0, high=365, unit="days")
LOYALTY_EXPIRING_SOON_DAYS = env_int(
    "LOYALTY_EXPIRING_SOON_DAYS", 30, low=0, high=3650, unit="days"
)
LOYALTY_TIER_WINDOW_DAYS = env_int("LOYALTY_TIER_WINDOW_DAYS", 365, low=1, high=3650, unit="days")
if LOYALTY_EXPIRY_POLICY not in {"rolling", "end_of_following_year"}:
    raise ImproperlyConfigured("LOYALTY_EXPIRY_POLICY must be 'rolling' or 'end_of_following_year'")
if LOYALTY_YEN_PER_POINT < 1:
    raise ImproperlyConfigured("LOYALTY_YEN_PER_POINT must be at least 1")

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "members.authentication.ApiKeyAuthentication",
        "members.authentication.MemberTokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    # drf-spectacular's AutoSchema plus the documented error responses of every operation.
    "DEFAULT_SCHEMA_CLASS": "loyalty.api.schema.ApiAutoSchema",
    "EXCEPTION_HANDLER": "loyalty.api.errors.api_exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_THROTTLE_CLASSES": ["loyalty.api.throttling.CallerRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "integration": env_rate("LOYALTY_THROTTLE_INTEGRATION", "6000/min"),
        "member": env_rate("LOYALTY_THROTTLE_MEMBER", "120/min"),
        "login": env_rate("LOYALTY_THROTTLE_LOGIN", "20/min"),
    },
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Loyalty engine API",
    "DESCRIPTION": "Members, points, coupons and events for member apps and POS integrations.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "MemberStatusEnum": "members.models.Member.Status",
        "CouponStatusEnum": "loyalty.models.coupons.Coupon.Status",
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    # Django's own "django" logger has a console handler in DEBUG; without this every line
    # would print twice (once there, once via the root).
    "loggers": {"django": {"handlers": [], "propagate": True}},
}
LOYALTY_PHONE_REGION = os.environ.get("LOYALTY_PHONE_REGION", "JP")
LOYALTY_MEMBER_TOKEN_HOURS = env_int(
    "LOYALTY_MEMBER_TOKEN_HOURS", 720, low=1, high=87600, unit="hours"
)

# Challenge engine: public holidays for the time.is_holiday condition field (a country code
# of the `holidays` package; empty: none), and how many events one worker transaction takes.
LOYALTY_HOLIDAY_COUNTRY = os.environ.get("LOYALTY_HOLIDAY_COUNTRY", "JP")
LOYALTY_EVENT_BATCH_SIZE = env_int(
    "LOYALTY_EVENT_BATCH_SIZE", 500, low=1, high=10000, unit="events"
)
# Win-back thresholds of the nightly scheduler (challenges/scheduled.py): a win_back event for
# each member whose last visit or purchase was exactly this many days ago. Challenges that
# name other numbers (event.payload.days_absent eq / in) add theirs. Empty: only theirs.
LOYALTY_WIN_BACK_DAYS = days_list(
    "LOYALTY_WIN_BACK_DAYS", env_list("LOYALTY_WIN_BACK_DAYS", ["30", "60", "90", "180"])
)

# Weather for the challenge conditions (docs/challenges.md#weather): the provider class that
# `fetch_weather` and the early-morning job ask (dotted path; empty: off, the default), and
# Open-Meteo's endpoint, optional key (its paid, commercial API) and timeout in seconds.
LOYALTY_WEATHER_PROVIDER = os.environ.get("LOYALTY_WEATHER_PROVIDER", "")
LOYALTY_OPEN_METEO_URL = os.environ.get(
    "LOYALTY_OPEN_METEO_URL", "https://api.open-meteo.com/v1/forecast"
)
LOYALTY_OPEN_METEO_API_KEY = os.environ.get("LOYALTY_OPEN_METEO_API_KEY", "")
LOYALTY_OPEN_METEO_TIMEOUT = env_int("LOYALTY_OPEN_METEO_TIMEOUT", 10)
if LOYALTY_OPEN_METEO_TIMEOUT < 1:
    raise ImproperlyConfigured("LOYALTY_OPEN_METEO_TIMEOUT must be at least 1 (seconds)")

# KPIs (docs/metrics.md): a member lapses (churns, turns dormant) after this many days without
# a purchase; the repeat rate looks at this many months; LTV = AOV x LOYALTY_MARGIN (gross
# profit share, 0-1) x purchases per year x retention years (1 / annual churn, at most
# LOYALTY_LTV_MAX_YEARS).
LOYALTY_CHURN_LAPSE_DAYS = env_int("LOYALTY_CHURN_LAPSE_DAYS", 180, low=1, high=3650, unit="days")
LOYALTY_REPEAT_MONTHS = env_int("LOYALTY_REPEAT_MONTHS", 12, low=1, high=120, unit="months")
LOYALTY_LTV_MAX_YEARS = env_int("LOYALTY_LTV_MAX_YEARS", 10, low=1, high=100, unit="years")
# PostgreSQL's work_mem (megabytes) for the KPI runs' statements: enough to hash a year of
# purchases' member ids rather than probe them row by row (the server default is 4 MB).
LOYALTY_KPI_WORK_MEM_MB = env_int(
    "LOYALTY_KPI_WORK_MEM_MB", 256, low=4, high=65536, unit="megabytes"
)
# How long (seconds) the KPI runs' second database connection waits on a lock before the
# run fails (metrics.second_connection): it reads only the books, which nothing locks for long.
LOYALTY_KPI_LOCK_TIMEOUT_S = env_int(
    "LOYALTY_KPI_LOCK_TIMEOUT_S", 60, low=1, high=3600, unit="seconds"
)
_margin = os.environ.get("LOYALTY_MARGIN", "") or "0.30"
try:
    LOYALTY_MARGIN = Decimal(_margin)
except InvalidOperation as exc:
    raise ImproperlyConfigured(f"LOYALTY_MARGIN must be a decimal number, got {_margin!r}") from exc
if not (LOYALTY_MARGIN.is_finite() and 0 <= LOYALTY_MARGIN <= 1):
    raise ImproperlyConfigured(f"LOYALTY_MARGIN must be between 0 and 1, got {_margin!r}")
