"""The programme's local time (settings.TIME_ZONE): the days that challenge periods, the
scheduled triggers and the KPI windows are counted in."""

import datetime as dt
import zoneinfo

from django.conf import settings


def programme_zone() -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(settings.TIME_ZONE)


def local_midnight(day: dt.date) -> dt.datetime:
    """The aware instant a programme-local day starts."""
    return dt.datetime.combine(day, dt.time(), tzinfo=programme_zone())
