"""The Celery application; periodic jobs are declared once here (beat schedule)."""

import os

from celery import Celery
from celery.schedules import crontab

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "loyalty.settings")

app = Celery("loyalty")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Nightly jobs run in TIME_ZONE (CELERY_TIMEZONE); each is idempotent, so a re-run is harmless,
# and expires before the next night so a stuck queue never runs two nights at once.
_NIGHT = 60 * 60 * 20
app.conf.beat_schedule = {
    # The queue is only a doorbell: anything a lost message or a killed worker left pending
    # is picked up within a minute.
    "process-pending-events": {
        "task": "challenges.tasks.process_pending_events_task",
        "schedule": 60.0,
        "options": {"expires": 55},
    },
    "update-challenge-statuses": {
        "task": "challenges.tasks.update_challenge_statuses_task",
        "schedule": 60.0,
        "options": {"expires": 55},
    },
    # Weather for the challenge conditions (does nothing unless LOYALTY_WEATHER_PROVIDER is
    # set): today's, soon after midnight so the day's first events see it, and yesterday's
    # final figures.
    "fetch-weather": {
        "task": "challenges.tasks.fetch_weather_task",
        "schedule": crontab(hour=0, minute=5),
        "options": {"expires": _NIGHT},
    },
    "scheduled-events": {
        "task": "challenges.tasks.scheduled_events_task",
        "schedule": crontab(hour=0, minute=5),
        "options": {"expires": _NIGHT},
    },
    "release-pending-points": {
        "task": "loyalty.tasks.release_pending_points_task",
        "schedule": crontab(hour=0, minute=10),
        "options": {"expires": _NIGHT},
    },
    "expire-points": {
        "task": "loyalty.tasks.expire_points_task",
        "schedule": crontab(hour=0, minute=20),
        "options": {"expires": _NIGHT},
    },
    "expire-coupons": {
        "task": "loyalty.tasks.expire_coupons_task",
        "schedule": crontab(hour=0, minute=30),
        "options": {"expires": _NIGHT},
    },
    "recalculate-tiers": {
        "task": "members.tasks.recalculate_tiers_task",
        "schedule": crontab(hour=1, minute=0),
        "options": {"expires": _NIGHT},
    },
    # KPI snapshots of the windows containing yesterday, after the ledger jobs (expiry,
    # release) and the tiers, whose results the KPIs read.
    "kpis-nightly": {
        "task": "metrics.tasks.kpis_nightly_task",
        "schedule": crontab(hour=1, minute=30),
        "options": {"expires": _NIGHT},
    },
}
