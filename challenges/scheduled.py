"""Scheduled triggers: the nightly job turns the calendar into events.

For one programme-local day (settings.TIME_ZONE) it stores, for active members:
- `birthday` {"age"}: the members born on that month and day (Feb 29 birthdays on Feb 28 in
  years without one); age is the age they turn (at least 1).
- `anniversary` {"years"}: the members who joined (local date) on that month and day in an
  earlier year (the same Feb 29 rule).
- `win_back` {"days_absent"}: the members whose last store activity before the day (the
  latest of their last purchase, their last visit and the time they joined) was exactly N
  days earlier, for each N of `win_back_thresholds()`.

They are ordinary Event rows (source "scheduler", occurred_at the day's local midnight) that
the workers evaluate like any other, once. Client ids are deterministic
(`birthday:2026:<member number>`, `anniversary:2026:<member number>`,
`win_back:2026-06-05:60:<member number>`), so re-running a day creates nothing new and a
member gets one birthday and one anniversary event a year whatever happens. Everything is
computed as of the day (activity after it is ignored), so a day caught up late gives what it
would have given on time. `ScheduledEventsDay` records the days done; the nightly task catches
up from the last one.
"""

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Max, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import (
    Coalesce,
    ExtractDay,
    ExtractMonth,
    ExtractYear,
    Greatest,
    TruncDate,
)
from django.utils import timezone
from django.utils.translation import gettext as _

from loyalty.errors import LoyaltyError
from loyalty.localtime import local_midnight, programme_zone
from loyalty.models import Purchase
from members.models import Member, Visit

from .builtin_types import SCHEDULED
from .fields import PAYLOAD_PREFIX
from .intake import body_hash, events_enqueue_processing
from .models import Challenge, Event, EventType, ScheduledEventsDay

SOURCE_KEY = "scheduler"
# A missed night is caught up the next one; after an outage longer than this the older days
# are not (a birthday bonus a month late is worse than none): run them by hand if wanted.
MAX_CATCH_UP_DAYS = 7
MAX_DAYS_ABSENT = 3650
DAYS_ABSENT_FIELD = PAYLOAD_PREFIX + "days_absent"
EARLIEST_DAY = dt.date(2000, 1, 1)
_CHUNK = 1000


class InvalidScheduleDay(LoyaltyError):
    code = "invalid_day"
    field = "day"


@dataclass(frozen=True, slots=True)
class _Planned:
    type: str
    member_id: int
    member_number: str
    client_id: str
    payload: dict


def local_today() -> dt.date:
    return dt.datetime.now(programme_zone()).date()


def _month_day_matches(day: dt.date, month: str, day_of_month: str) -> Q:
    """`month`/`day_of_month` (lookups) fall on `day`; Feb 29 counts as Feb 28 in common years."""
    match = Q(**{month: day.month, day_of_month: day.day})
    if (day.month, day.day) == (2, 28) and not _is_leap(day.year):
        match |= Q(**{month: 2, day_of_month: 29})
    return match


def _is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def _members() -> QuerySet[Member]:
    return Member.objects.filter(status=Member.Status.ACTIVE)


# --- win-back thresholds -------------------------------------------------------------------


def _days_named(node) -> Iterator[int]:
    """Whole numbers that eq / in leaves on event.payload.days_absent compare with."""
    if not isinstance(node, dict):
        return
    for key in ("all", "any"):
        for child in node.get(key) or ():
            yield from _days_named(child)
    if "not" in node:
        yield from _days_named(node["not"])
    if node.get("field") != DAYS_ABSENT_FIELD or node.get("op") not in ("eq", "in"):
        return
    values = node.get("value")
    for value in values if isinstance(values, list) else [values]:
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        if value == int(value) and 1 <= value <= MAX_DAYS_ABSENT:
            yield int(value)


def win_back_thresholds() -> list[int]:
    """LOYALTY_WIN_BACK_DAYS plus every number of days an active or scheduled win_back
    challenge names (`event.payload.days_absent` eq / in), so marketers can pick any N."""
    days = set(settings.LOYALTY_WIN_BACK_DAYS)
    versions = Challenge.objects.filter(
        status__in=[Challenge.Status.ACTIVE, Challenge.Status.SCHEDULED],
        current_version__isnull=False,
    ).values_list("current_version__triggers", "current_version__conditions")
    for triggers, conditions in versions:
        if "win_back" in (triggers or ()):
            days.update(_days_named(conditions))
    return sorted(days)


# --- who gets what -------------------------------------------------------------------------


def _birthdays(day: dt.date) -> Iterator[_Planned]:
    members = _members().filter(
        birth_date__year__lt=day.year,
        joined_at__lt=local_midnight(day + dt.timedelta(days=1)),
    )
    matches = members.filter(
        _month_day_matches(day, "birth_date__month", "birth_date__day")
    ).order_by()
    for pk, number, birth in matches.values_list("pk", "member_number", "birth_date"):
        yield _Planned(
            "birthday", pk, number, f"birthday:{day.year}:{number}", {"age": day.year - birth.year}
        )


def _anniversaries(day: dt.date) -> Iterator[_Planned]:
    zone = programme_zone()
    members = (
        _members()
        .filter(joined_at__lt=local_midnight(day))
        .annotate(
            joined_year=ExtractYear("joined_at", tzinfo=zone),
            joined_month=ExtractMonth("joined_at", tzinfo=zone),
            joined_day=ExtractDay("joined_at", tzinfo=zone),
        )
        .filter(joined_year__lt=day.year)
        .filter(_month_day_matches(day, "joined_month", "joined_day"))
        .order_by()
    )
    for pk, number, year in members.values_list("pk", "member_number", "joined_year"):
        yield _Planned(
            "anniversary",
            pk,
            number,
            f"anniversary:{day.year}:{number}",
            {"years": day.year - year},
        )


def _win_backs(day: dt.date, thresholds: list[int]) -> Iterator[_Planned]:
    """One query: for the members active or joining on a threshold date, their last purchase
    and last visit before the day (one index probe each, on (member, time)), the latest of
    them and the join time, as a local date, kept when it is one of the threshold dates."""
    if not thresholds:
        return
    zone = programme_zone()
    start = local_midnight(day)
    targets = {day - dt.timedelta(days=n): n for n in thresholds}
    last_purchase = (
        Purchase.objects.filter(member=OuterRef("pk"), occurred_at__lt=start)
        .order_by("-occurred_at")
        .values("occurred_at")[:1]
    )
    last_visit = (
        Visit.objects.filter(member=OuterRef("pk"), visited_at__lt=start)
        .order_by("-visited_at")
        .values("visited_at")[:1]
    )
    # joined_at is never NULL, so neither side of Greatest is (SQLite's is NULL if one is).
    last_activity = Greatest(
        Coalesce(Subquery(last_purchase), F("joined_at")),
        Coalesce(Subquery(last_visit), F("joined_at")),
    )
    # Whoever's last activity falls on a target day was active (or joined) on one: only
    # those members need the two probes.
    purchased, visited, joined = Q(), Q(), Q()
    for target in targets:
        since, until = local_midnight(target), local_midnight(target + dt.timedelta(days=1))
        purchased |= Q(occurred_at__gte=since, occurred_at__lt=until)
        visited |= Q(visited_at__gte=since, visited_at__lt=until)
        joined |= Q(joined_at__gte=since, joined_at__lt=until)
    on_target = (
        Q(pk__in=Purchase.objects.filter(purchased).values("member_id"))
        | Q(pk__in=Visit.objects.filter(visited).values("member_id"))
        | joined
    )
    members = (
        _members()
        .filter(on_target, joined_at__lt=start)
        .annotate(last_day=TruncDate(last_activity, tzinfo=zone))
        .filter(last_day__in=sorted(targets))
        .order_by()
    )
    for pk, number, last_day in members.values_list("pk", "member_number", "last_day"):
        days = targets[last_day]
        yield _Planned(
            "win_back", pk, number, f"win_back:{day}:{days}:{number}", {"days_absent": days}
        )


# --- writing -------------------------------------------------------------------------------


def _store(planned: list[_Planned], *, occurred_at: dt.datetime) -> dict[str, int]:
    """Insert the events not stored yet; returns how many of each type were new."""
    counts = dict.fromkeys(SCHEDULED, 0)
    existing: set[str] = set()
    ids = [p.client_id for p in planned]
    for start in range(0, len(ids), _CHUNK):
        existing.update(
            Event.objects.filter(
                source_key=SOURCE_KEY, client_id__in=ids[start : start + _CHUNK]
            ).values_list("client_id", flat=True)
        )
    types = {t.code: t for t in EventType.objects.filter(code__in=SCHEDULED)}
    missing = sorted(set(SCHEDULED) - set(types))
    if missing:
        raise LoyaltyError(
            _("Event type(s) %s are not installed: run manage.py migrate.") % ", ".join(missing),
            field="type",
        )
    new = []
    for item in planned:
        if item.client_id in existing:
            continue
        existing.add(item.client_id)
        counts[item.type] += 1
        digest = body_hash(
            {
                "type": item.type,
                "member_number": item.member_number,
                "occurred_at": occurred_at,
                "store_code": "",
                "payload": item.payload,
                "weather": None,
            }
        )
        new.append(
            Event(
                source_key=SOURCE_KEY,
                client_id=item.client_id,
                type=types[item.type],
                member_id=item.member_id,
                occurred_at=occurred_at,
                payload=item.payload,
                body_hash=digest,
            )
        )
    # The day's marker row is locked, so another run of the same day waits; a conflict can
    # only come from a run of another day at this moment storing the same yearly id (a birth
    # date edited in between): the row stays once, and this run's count is one too high.
    Event.objects.bulk_create(new, batch_size=_CHUNK, ignore_conflicts=True)
    return counts


def scheduled_events_create(*, day: dt.date) -> dict[str, int]:
    """Create the scheduled events of the programme-local `day` (see the module docstring)
    and ring the workers; returns how many new events of each type. Safe to run again."""
    if not isinstance(day, dt.date) or isinstance(day, dt.datetime):
        raise InvalidScheduleDay(_("Give a date (YYYY-MM-DD)."))
    if day > local_today():
        raise InvalidScheduleDay(_("Must not be in the future."))
    if day < EARLIEST_DAY:
        raise InvalidScheduleDay(_("Must not be before 2000-01-01."))
    marker, _created = ScheduledEventsDay.objects.get_or_create(day=day)
    with transaction.atomic():
        marker = ScheduledEventsDay.objects.select_for_update().get(pk=marker.pk)
        if connection.vendor == "postgresql":
            # The win-back query's estimated cost (correlated subqueries) makes PostgreSQL JIT
            # compile it, which takes longer than running it (3 s of 4 on 300,000 members).
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL jit = off")
        planned = [
            *_birthdays(day),
            *_anniversaries(day),
            *_win_backs(day, win_back_thresholds()),
        ]
        counts = _store(planned, occurred_at=local_midnight(day))
        marker.counts = {code: (marker.counts or {}).get(code, 0) + n for code, n in counts.items()}
        marker.finished_at = timezone.now()
        marker.save(update_fields=["counts", "finished_at"])
        if any(counts.values()):
            events_enqueue_processing()
    return counts


def scheduled_events_catch_up(*, today: dt.date | None = None) -> dict[dt.date, dict[str, int]]:
    """Run every day from the one after the last finished day up to `today` (local today by
    default), at most MAX_CATCH_UP_DAYS back; the first run ever does only today."""
    today = today or local_today()
    last = ScheduledEventsDay.objects.filter(finished_at__isnull=False, day__lte=today).aggregate(
        last=Max("day")
    )["last"]
    if last is None:
        day = today
    else:
        day = max(last + dt.timedelta(days=1), today - dt.timedelta(days=MAX_CATCH_UP_DAYS))
    done = {}
    while day <= today:
        done[day] = scheduled_events_create(day=day)
        day += dt.timedelta(days=1)
    return done
