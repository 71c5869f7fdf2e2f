"""Calendar periods of the KPI snapshots: day, week (ISO, from Monday), month and quarter
(from January, April, July, October), in programme-local dates.

A period is named by its first day (`period_start`); snapshots and targets store that date.
"""

import datetime as dt

from dateutil.relativedelta import relativedelta
from django.utils.translation import gettext_lazy as _

PERIODS = ("day", "week", "month", "quarter")
_MONTHS = {"month": 1, "quarter": 3}

# How a period's first day is described in an error ("A week starts on a Monday").
START_RULES = {
    "day": _("any day"),
    "week": _("a Monday"),
    "month": _("the 1st of a month"),
    "quarter": _("1 January, 1 April, 1 July or 1 October"),
}


def _check(period: str) -> None:
    if period not in PERIODS:
        raise ValueError(f"unknown period {period!r}")


def period_floor(period: str, day: dt.date) -> dt.date:
    """The first day of the period of kind `period` that contains `day`."""
    _check(period)
    if period == "day":
        return day
    if period == "week":
        return day - dt.timedelta(days=day.weekday())
    if period == "month":
        return day.replace(day=1)
    return day.replace(month=(day.month - 1) // 3 * 3 + 1, day=1)


def period_is_start(period: str, day: dt.date) -> bool:
    return period_floor(period, day) == day


def period_shift(period: str, start: dt.date, n: int) -> dt.date:
    """The start of the period `n` periods after (negative: before) the one starting `start`."""
    _check(period)
    if period == "day":
        return start + dt.timedelta(days=n)
    if period == "week":
        return start + dt.timedelta(weeks=n)
    return start + relativedelta(months=n * _MONTHS[period])


def period_end(period: str, start: dt.date) -> dt.date:
    """The day after the period starting `start` (exclusive end)."""
    return period_shift(period, start, 1)


def period_starts(period: str, first: dt.date, last: dt.date) -> list[dt.date]:
    """Every period start from the period of `first` to the period of `last`, inclusive."""
    start, last = period_floor(period, first), period_floor(period, last)
    starts = []
    while start <= last:
        starts.append(start)
        start = period_shift(period, start, 1)
    return starts


def period_count(period: str, first: dt.date, last: dt.date) -> int:
    """How many periods `period_starts` would list (without listing them)."""
    first, last = period_floor(period, first), period_floor(period, last)
    if last < first:
        return 0
    if period == "day":
        return (last - first).days + 1
    if period == "week":
        return (last - first).days // 7 + 1
    months = (last.year - first.year) * 12 + last.month - first.month
    return months // _MONTHS[period] + 1


def period_label(period: str, start: dt.date) -> str:
    """Short and sortable: 2026-05-01, 2026-W18, 2026-05, 2026-Q2."""
    _check(period)
    if period == "day":
        return start.isoformat()
    if period == "week":
        year, week, _weekday = start.isocalendar()
        return f"{year}-W{week:02d}"
    if period == "month":
        return f"{start:%Y-%m}"
    return f"{start.year}-Q{(start.month - 1) // 3 + 1}"
