"""loyalty/settings.py from the outside: each case starts a fresh Python with a controlled
environment (nothing inherited from the test process, such as CI's DATABASE_URL), runs
django.setup() and reads back the resulting settings, or the error that stopped it."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GOOD_KEY = "k3y-" + "x7Q9vLp2Rz" * 6  # 64 characters, random-looking, not django-insecure

PROBE = """
import json, django
django.setup()
from django.conf import settings
from loyalty.celery import app
db = settings.DATABASES["default"]
app.connection_for_write().info()  # what sending a task reads (kombu warns here, if at all)
print(json.dumps({
    "engine": db["ENGINE"], "name": str(db["NAME"]), "host": db.get("HOST", ""),
    "debug": settings.DEBUG, "allowed_hosts": settings.ALLOWED_HOSTS,
    "eager": settings.CELERY_TASK_ALWAYS_EAGER, "broker": settings.CELERY_BROKER_URL,
    "app_eager": app.conf.task_always_eager, "app_broker": app.conf.broker_url,
    "time_zone": settings.TIME_ZONE, "celery_tz": app.conf.timezone,
    "currency": settings.LOYALTY_CURRENCY, "expiry_policy": settings.LOYALTY_EXPIRY_POLICY,
    "static_storage": settings.STORAGES["staticfiles"]["BACKEND"],
    "session_cookie_secure": getattr(settings, "SESSION_COOKIE_SECURE", False),
}))
"""


def run_settings(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    clean = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "DJANGO_SETTINGS_MODULE": "loyalty.settings",
        "LOYALTY_VAR_DIR": str(tmp_path / "var"),
        "PYTHONDONTWRITEBYTECODE": "1",
        **env,
    }
    return subprocess.run(  # noqa: S603 (our own interpreter and script)
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def loaded(tmp_path: Path, **env: str) -> dict:
    result = run_settings(tmp_path, **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def refused(tmp_path: Path, **env: str) -> str:
    """The settings refused to load: returns the ImproperlyConfigured message."""
    result = run_settings(tmp_path, **env)
    assert result.returncode != 0, result.stdout
    match = re.search(r"django\.core\.exceptions\.ImproperlyConfigured: (.*)", result.stderr)
    assert match, result.stderr
    return match.group(1)


def test_no_variables_means_sqlite_in_var_dir_and_in_process_tasks(tmp_path):
    result = run_settings(tmp_path)
    # The in-process broker names a host: with none, kombu printed "No hostname was
    # supplied" under every command that sends a task.
    assert (result.returncode, result.stderr) == (0, "")
    s = loaded(tmp_path)
    assert s["engine"] == "django.db.backends.sqlite3"
    assert Path(s["name"]) == tmp_path / "var" / "loyalty.sqlite3"
    assert (tmp_path / "var").is_dir()  # created so the first migrate works
    assert s["eager"] is True and s["app_eager"] is True
    assert s["broker"] == "memory://localhost/"
    assert s["time_zone"] == "Asia/Tokyo" and s["celery_tz"] == "Asia/Tokyo"
    assert s["currency"] == "JPY"
    assert s["expiry_policy"] == "rolling"
    assert s["debug"] is False  # DEBUG only when asked
    assert "localhost" in s["allowed_hosts"]


def test_database_url_switches_to_postgresql(tmp_path):
    s = loaded(tmp_path, DATABASE_URL="postgres://loyalty:secret@db.internal:5432/loyalty")
    assert s["engine"] == "django.db.backends.postgresql"
    assert s["name"] == "loyalty"
    assert s["host"] == "db.internal"
    assert not (tmp_path / "var").exists()  # no SQLite, no var dir


def test_redis_url_means_real_broker_and_no_eager_tasks(tmp_path):
    s = loaded(tmp_path, REDIS_URL="redis://127.0.0.1:6379/3")
    assert s["broker"] == s["app_broker"] == "redis://127.0.0.1:6379/3"
    assert s["eager"] is False and s["app_eager"] is False


def test_celery_broker_url_wins_over_redis_url(tmp_path):
    s = loaded(
        tmp_path,
        REDIS_URL="redis://127.0.0.1:6379/3",
        CELERY_BROKER_URL="amqp://guest@rabbit:5672//",
    )
    assert s["broker"] == "amqp://guest@rabbit:5672//"
    assert s["eager"] is False


def test_time_zone_can_be_changed(tmp_path):
    s = loaded(tmp_path, TIME_ZONE="Europe/Paris", LOYALTY_CURRENCY="JPY")
    assert s["time_zone"] == "Europe/Paris" and s["celery_tz"] == "Europe/Paris"
    assert s["currency"] == "JPY"


def test_production_without_secret_key_refuses_to_start(tmp_path):
    assert "DJANGO_SECRET_KEY" in refused(tmp_path, LOYALTY_ENV="production")


@pytest.mark.parametrize(
    "key",
    [
        "too-short-but-random-9f8e7d",
        "django-insecure-" + "a1b2c3d4e5" * 6,  # Django's startproject placeholder prefix
    ],
)
def test_production_refuses_weak_secret_keys(tmp_path, key):
    message = refused(tmp_path, LOYALTY_ENV="production", DJANGO_SECRET_KEY=key)
    assert "DJANGO_SECRET_KEY" in message


def test_production_refuses_the_env_example_placeholder_key(tmp_path):
    """Copying .env.example without editing it must not give a running stack with a known key."""
    line = next(
        line
        for line in (ROOT / ".env.example").read_text().splitlines()
        if line.startswith("DJANGO_SECRET_KEY=")
    )
    key = line.split("=", 1)[1]
    assert "DJANGO_SECRET_KEY" in refused(tmp_path, LOYALTY_ENV="production", DJANGO_SECRET_KEY=key)


def test_production_refuses_debug(tmp_path):
    message = refused(
        tmp_path, LOYALTY_ENV="production", DJANGO_SECRET_KEY=GOOD_KEY, DJANGO_DEBUG="1"
    )
    assert "DJANGO_DEBUG" in message


def test_production_with_a_good_key_starts_without_debug(tmp_path):
    s = loaded(
        tmp_path,
        LOYALTY_ENV="production",
        DJANGO_SECRET_KEY=GOOD_KEY,
        DJANGO_ALLOWED_HOSTS="loyalty.example.com, .example.org",
    )
    assert s["debug"] is False
    assert s["allowed_hosts"] == ["loyalty.example.com", ".example.org"]
    assert s["static_storage"] == "whitenoise.storage.CompressedManifestStaticFilesStorage"
    assert s["session_cookie_secure"] is True


def test_production_allows_no_host_unless_told(tmp_path):
    s = loaded(tmp_path, LOYALTY_ENV="production", DJANGO_SECRET_KEY=GOOD_KEY)
    assert s["allowed_hosts"] == []


def test_unknown_environment_name_refuses(tmp_path):
    assert "LOYALTY_ENV" in refused(tmp_path, LOYALTY_ENV="staging")


def test_bad_expiry_policy_refuses(tmp_path):
    assert "LOYALTY_EXPIRY_POLICY" in refused(tmp_path, LOYALTY_EXPIRY_POLICY="never")


def test_end_of_following_year_policy_is_accepted(tmp_path):
    s = loaded(tmp_path, LOYALTY_EXPIRY_POLICY="end_of_following_year")
    assert s["expiry_policy"] == "end_of_following_year"


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("LOYALTY_EXPIRY_MONTHS", "twelve", "must be an integer, got 'twelve'"),
        ("LOYALTY_YEN_PER_POINT", "0", "must be at least 1"),
        # Accepted before: points stored expiring before they were earned, tokens issued
        # already expired, points available before the purchase, a worker claiming nothing.
        ("LOYALTY_EXPIRY_MONTHS", "-3", "must be from 1 to 120 (months), got -3"),
        ("LOYALTY_PENDING_DAYS", "-5", "must be from 0 to 365 (days), got -5"),
        ("LOYALTY_EXPIRING_SOON_DAYS", "-1", "must be from 0 to 3650 (days), got -1"),
        ("LOYALTY_TIER_WINDOW_DAYS", "0", "must be from 1 to 3650 (days), got 0"),
        ("LOYALTY_MEMBER_TOKEN_HOURS", "-1", "must be from 1 to 87600 (hours), got -1"),
        ("LOYALTY_EVENT_BATCH_SIZE", "0", "must be from 1 to 10000 (events), got 0"),
        # A malformed rate made every throttled request a 500.
        ("LOYALTY_THROTTLE_MEMBER", "abc", "must be a rate such as 120/min"),
        ("LOYALTY_THROTTLE_LOGIN", "0/min", "must be a rate such as 120/min"),
        # Amounts are whole yen throughout: another code changed nothing but the setting.
        ("LOYALTY_CURRENCY", "EUR", "must be JPY"),
    ],
)
def test_bad_values_refuse_to_start_naming_the_variable(tmp_path, name, value, message):
    assert refused(tmp_path, **{name: value}).startswith(f"{name} {message}")


def test_good_rates_and_bounds_are_accepted(tmp_path):
    loaded(
        tmp_path,
        LOYALTY_THROTTLE_MEMBER="5/second",
        LOYALTY_THROTTLE_LOGIN="100/hour",
        LOYALTY_PENDING_DAYS="0",
        LOYALTY_EXPIRY_MONTHS="120",
    )


@pytest.mark.parametrize("value", ["0", "3601", "soon"])
def test_bad_kpi_lock_timeout_refuses(tmp_path, value):
    assert "LOYALTY_KPI_LOCK_TIMEOUT_S" in refused(tmp_path, LOYALTY_KPI_LOCK_TIMEOUT_S=value)
