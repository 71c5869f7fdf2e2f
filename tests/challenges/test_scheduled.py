"""Scheduled triggers: the nightly job's birthday, anniversary and win-back events, its
catch-up, and what the workers make of them."""

import datetime as dt
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command
from django.utils import timezone

from challenges.models import Award, Challenge, Event, ScheduledEventsDay
from challenges.scheduled import (
    InvalidScheduleDay,
    local_today,
    scheduled_events_catch_up,
    scheduled_events_create,
    win_back_thresholds,
)
from challenges.services import challenge_create, challenge_set_status
from challenges.tasks import scheduled_events_task
from loyalty import settings as loyalty_settings
from loyalty.celery import app
from loyalty.purchases import purchase_record
from members.models import Member, Visit
from tests.challenges.support import JST, challenge_points, member_app, preset, process
from tests.members.factories import MemberFactory, StoreFactory

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
DAY = dt.date(2025, 6, 5)
LONG_AGO = dt.datetime(2020, 1, 10, 10, 0, tzinfo=JST)
NONE = {"birthday": 0, "anniversary": 0, "win_back": 0}


def member(**fields) -> Member:
    """A member who joined long ago (so no anniversary or win-back on the test days)."""
    return MemberFactory(**{"joined_at": LONG_AGO, **fields})


def at(day: dt.date, hour: int = 12, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=JST)


def withdrawn(**fields) -> Member:
    return member(status="withdrawn", withdrawn_at=LONG_AGO, **fields)


def stored() -> list[tuple[str, str, dict]]:
    """(type, client id, payload) of every scheduled event, by client id."""
    return sorted(
        Event.objects.filter(source_key="scheduler").values_list(
            "type__code", "client_id", "payload"
        ),
        key=lambda row: row[1],
    )


def win_back_row(who: Member, days: int, day: dt.date = DAY) -> tuple[str, str, dict]:
    return ("win_back", f"win_back:{day}:{days}:{who.member_number}", {"days_absent": days})


def buy(who: Member, when: dt.datetime, ref: str) -> None:
    purchase_record(member=who, order_reference=ref, total=1000, occurred_at=when)


def visit(who: Member, when: dt.datetime) -> None:
    Visit.objects.create(member=who, store=StoreFactory(), visited_at=when)


# --- birthdays -------------------------------------------------------------------------------


def test_birthday_on_the_day_only_for_active_members():
    born_today = member(birth_date=dt.date(1990, 6, 5))
    member(birth_date=dt.date(1990, 6, 6))
    member(birth_date=dt.date(1990, 5, 5))
    member(birth_date=None)
    withdrawn(birth_date=dt.date(1985, 6, 5))
    member(birth_date=dt.date(1970, 6, 5), status="suspended")

    assert scheduled_events_create(day=DAY) == {**NONE, "birthday": 1}

    event = Event.objects.get(source_key="scheduler")
    assert (event.type.code, event.member, event.client_id, event.payload, event.status) == (
        "birthday",
        born_today,
        f"birthday:2025:{born_today.member_number}",
        {"age": 35},
        "pending",
    )
    assert event.occurred_at == dt.datetime(2025, 6, 5, 0, 0, tzinfo=JST)
    assert event.store is None
    marker = ScheduledEventsDay.objects.get()
    assert (marker.day, marker.counts) == (DAY, {**NONE, "birthday": 1})
    assert marker.finished_at is not None


def test_born_on_the_day_itself_is_not_a_birthday():
    member(birth_date=DAY)
    assert scheduled_events_create(day=DAY) == NONE


def test_feb_29_birthdays_fall_on_feb_28_in_common_years_only():
    leapling = member(birth_date=dt.date(2000, 2, 29))
    feb_28 = member(birth_date=dt.date(2000, 2, 28))
    number, other = leapling.member_number, feb_28.member_number

    assert scheduled_events_create(day=dt.date(2025, 2, 28)) == {**NONE, "birthday": 2}
    assert scheduled_events_create(day=dt.date(2025, 3, 1)) == NONE
    assert scheduled_events_create(day=dt.date(2024, 2, 28)) == {**NONE, "birthday": 1}
    assert scheduled_events_create(day=dt.date(2024, 2, 29)) == {**NONE, "birthday": 1}

    assert stored() == sorted(
        [
            ("birthday", f"birthday:2024:{number}", {"age": 24}),
            ("birthday", f"birthday:2024:{other}", {"age": 24}),
            ("birthday", f"birthday:2025:{number}", {"age": 25}),
            ("birthday", f"birthday:2025:{other}", {"age": 25}),
        ],
        key=lambda row: row[1],
    )
    assert Event.objects.get(client_id=f"birthday:2024:{number}").occurred_at == dt.datetime(
        2024, 2, 29, tzinfo=JST
    )


# --- anniversaries ---------------------------------------------------------------------------


def test_anniversary_counts_whole_years_of_the_local_join_date():
    two_years = member(joined_at=dt.datetime(2023, 6, 5, 10, 0, tzinfo=JST))
    one_year = member(joined_at=dt.datetime(2024, 6, 5, 23, 59, tzinfo=JST))
    # 2022-06-04 20:00 UTC is 2022-06-05 05:00 in Tokyo: a 5 June member.
    local_fifth = member(joined_at=dt.datetime(2022, 6, 4, 20, 0, tzinfo=dt.UTC))
    # 2022-06-05 16:00 UTC is already 6 June in Tokyo.
    member(joined_at=dt.datetime(2022, 6, 5, 16, 0, tzinfo=dt.UTC))
    member(joined_at=dt.datetime(2025, 6, 5, 0, 30, tzinfo=JST))  # joins that day: year 0
    member(joined_at=dt.datetime(2024, 6, 4, 12, 0, tzinfo=JST))
    withdrawn(joined_at=dt.datetime(2021, 6, 5, 12, 0, tzinfo=JST))

    assert scheduled_events_create(day=DAY) == {**NONE, "anniversary": 3}

    assert stored() == sorted(
        [
            ("anniversary", f"anniversary:2025:{two_years.member_number}", {"years": 2}),
            ("anniversary", f"anniversary:2025:{one_year.member_number}", {"years": 1}),
            ("anniversary", f"anniversary:2025:{local_fifth.member_number}", {"years": 3}),
        ],
        key=lambda row: row[1],
    )


def test_feb_29_members_celebrate_on_feb_28_in_common_years():
    leapling = member(joined_at=dt.datetime(2020, 2, 29, 12, 0, tzinfo=JST))

    assert scheduled_events_create(day=dt.date(2021, 2, 28)) == {**NONE, "anniversary": 1}
    assert scheduled_events_create(day=dt.date(2024, 2, 28)) == NONE
    assert scheduled_events_create(day=dt.date(2024, 2, 29)) == {**NONE, "anniversary": 1}

    assert stored() == [
        ("anniversary", f"anniversary:2021:{leapling.member_number}", {"years": 1}),
        ("anniversary", f"anniversary:2024:{leapling.member_number}", {"years": 4}),
    ]


# --- win-back --------------------------------------------------------------------------------


def test_win_back_on_exactly_n_days_since_the_last_purchase_or_visit(settings):
    settings.LOYALTY_WIN_BACK_DAYS = [30, 60]
    thirty = member()
    buy(thirty, at(DAY - dt.timedelta(days=30), 23, 30), "O-30")  # late evening, local
    buy(thirty, at(DAY - dt.timedelta(days=45)), "O-45")
    twenty_nine = member()
    visit(twenty_nine, at(DAY - dt.timedelta(days=29), 0, 5))
    came_back = member()
    buy(came_back, at(DAY - dt.timedelta(days=60)), "O-60")
    visit(came_back, at(DAY - dt.timedelta(days=31)))
    visited = member()
    visit(visited, at(DAY - dt.timedelta(days=60), 9))
    never = member(joined_at=at(DAY - dt.timedelta(days=60), 18))
    never_29 = member(joined_at=at(DAY - dt.timedelta(days=59), 18))
    # As of the day: a purchase on the day itself (a late catch-up run sees it) is ignored.
    today_too = member()
    buy(today_too, at(DAY - dt.timedelta(days=30)), "O-T30")
    buy(today_too, at(DAY, 10), "O-T0")
    # History imported from before joining: absence counts from joining.
    imported = member(joined_at=at(DAY - dt.timedelta(days=30), 8))
    buy(imported, at(DAY - dt.timedelta(days=90)), "O-I90")
    gone = member()
    buy(gone, at(DAY - dt.timedelta(days=30)), "O-G30")
    Member.objects.filter(pk=gone.pk).update(status="withdrawn", withdrawn_at=at(DAY, 1))
    # 2025-05-05 15:30 UTC is 6 May 00:30 in Tokyo: 30 days before, not 31.
    utc_edge = member()
    buy(utc_edge, dt.datetime(2025, 5, 5, 15, 30, tzinfo=dt.UTC), "O-U")

    assert scheduled_events_create(day=DAY) == {**NONE, "win_back": 6}

    assert stored() == sorted(
        [
            win_back_row(thirty, 30),
            win_back_row(visited, 60),
            win_back_row(never, 60),
            win_back_row(today_too, 30),
            win_back_row(utc_edge, 30),
            win_back_row(imported, 30),
        ],
        key=lambda r: r[1],
    )
    assert {twenty_nine.pk, came_back.pk, never_29.pk, gone.pk}.isdisjoint(
        Event.objects.filter(source_key="scheduler").values_list("member_id", flat=True)
    )


def win_back_challenge(code: str, days: int | list[int], *, op="eq", status="active", starts=2025):
    challenge = challenge_create(
        code=code,
        definition={
            "name": code,
            "triggers": ["win_back"],
            "conditions": {"field": "event.payload.days_absent", "op": op, "value": days},
            "effects": [{"type": "points", "points": 10}],
            "starts_at": dt.datetime(starts, 1, 1, tzinfo=JST),
        },
        status=status,
    )
    return Challenge.objects.get(pk=challenge.pk).status


def test_challenges_add_the_days_they_name_to_the_thresholds(settings):
    settings.LOYALTY_WIN_BACK_DAYS = [30]
    in_leaf = {"field": "event.payload.days_absent", "op": "in", "value": [45, 75]}
    challenge_create(
        code="nested",
        definition={
            "name": "nested",
            "triggers": ["win_back", "visit"],
            "conditions": {"any": [in_leaf, {"not": {**in_leaf, "value": [14]}}]},
            "effects": [{"type": "points", "points": 10}],
            "starts_at": dt.datetime(2025, 1, 1, tzinfo=JST),
        },
        status="active",
    )
    assert win_back_challenge("later", 100, starts=2099) == "scheduled"
    assert win_back_challenge("draft", 50, status="draft") == "draft"
    win_back_challenge("paused", 55)
    challenge_set_status(challenge=Challenge.objects.get(code="paused"), status="paused")
    assert win_back_challenge("gte", 20, op="gte") == "active"
    challenge_create(
        code="other-trigger",
        definition={
            "name": "other",
            "triggers": ["app_open"],
            "effects": [{"type": "points", "points": 1}],
            "starts_at": dt.datetime(2025, 1, 1, tzinfo=JST),
        },
        status="active",
    )

    assert win_back_thresholds() == [14, 30, 45, 75, 100]

    forty_five = member()
    buy(forty_five, at(DAY - dt.timedelta(days=45)), "O-45")
    forty_four = member()
    buy(forty_four, at(DAY - dt.timedelta(days=44)), "O-44")
    fifty = member()
    buy(fifty, at(DAY - dt.timedelta(days=50)), "O-50")
    thirty = member()
    visit(thirty, at(DAY - dt.timedelta(days=30)))

    assert scheduled_events_create(day=DAY) == {**NONE, "win_back": 2}
    assert stored() == sorted(
        [win_back_row(forty_five, 45), win_back_row(thirty, 30)], key=lambda r: r[1]
    )


def test_no_thresholds_no_win_back(settings):
    settings.LOYALTY_WIN_BACK_DAYS = []
    buy(member(), at(DAY - dt.timedelta(days=30)), "O-30")
    assert win_back_thresholds() == []
    assert scheduled_events_create(day=DAY) == NONE


# --- re-runs and catch-up --------------------------------------------------------------------


def test_running_a_day_again_creates_nothing_new(settings):
    settings.LOYALTY_WIN_BACK_DAYS = [30]
    member(birth_date=dt.date(1990, 6, 5))
    member(joined_at=at(dt.date(2024, 6, 5)))
    buy(member(), at(DAY - dt.timedelta(days=30)), "O-30")

    first = scheduled_events_create(day=DAY)
    ids = set(Event.objects.values_list("pk", flat=True))
    again = scheduled_events_create(day=DAY)

    assert first == {"birthday": 1, "anniversary": 1, "win_back": 1}
    assert again == NONE
    assert set(Event.objects.values_list("pk", flat=True)) == ids
    assert ScheduledEventsDay.objects.get().counts == first


def test_one_birthday_a_year_even_when_the_birth_date_is_changed():
    someone = member(birth_date=dt.date(1990, 6, 5))
    assert scheduled_events_create(day=DAY) == {**NONE, "birthday": 1}
    Member.objects.filter(pk=someone.pk).update(birth_date=dt.date(1990, 6, 20))

    assert scheduled_events_create(day=dt.date(2025, 6, 20)) == NONE
    assert [row[1] for row in stored()] == [f"birthday:2025:{someone.member_number}"]


def birthdays_on(*days: dt.date) -> dict[dt.date, Member]:
    return {day: member(birth_date=day.replace(year=1990)) for day in days}


def test_catch_up_runs_every_day_missed_since_the_last_one():
    first, missed, also_missed, today = (DAY + dt.timedelta(days=n) for n in range(4))
    born = birthdays_on(first, missed, also_missed, today)
    scheduled_events_create(day=first)

    done = scheduled_events_catch_up(today=today)

    assert done == {day: {**NONE, "birthday": 1} for day in (missed, also_missed, today)}
    assert [row[1] for row in stored()] == sorted(
        f"birthday:2025:{who.member_number}" for who in born.values()
    )
    assert sorted(ScheduledEventsDay.objects.values_list("day", flat=True)) == [
        first,
        missed,
        also_missed,
        today,
    ]
    assert scheduled_events_catch_up(today=today) == {}
    assert Event.objects.count() == 4


def test_catch_up_goes_back_at_most_seven_days():
    scheduled_events_create(day=DAY)
    today = DAY + dt.timedelta(days=20)
    born = birthdays_on(DAY + dt.timedelta(days=12), DAY + dt.timedelta(days=13))

    done = scheduled_events_catch_up(today=today)

    assert list(done) == [today - dt.timedelta(days=n) for n in range(7, -1, -1)]
    assert [row[1] for row in stored()] == [
        f"birthday:2025:{born[DAY + dt.timedelta(days=13)].member_number}"
    ]


def test_the_first_run_ever_does_only_today():
    birthdays_on(DAY - dt.timedelta(days=1), DAY)
    assert scheduled_events_catch_up(today=DAY) == {DAY: {**NONE, "birthday": 1}}


def test_an_unfinished_day_is_run_again():
    scheduled_events_create(day=DAY)
    ScheduledEventsDay.objects.create(day=DAY + dt.timedelta(days=1))  # a run that failed
    birthdays_on(DAY + dt.timedelta(days=1))

    done = scheduled_events_catch_up(today=DAY + dt.timedelta(days=1))

    assert done == {DAY + dt.timedelta(days=1): {**NONE, "birthday": 1}}


def test_the_nightly_task_does_today_in_the_programme_time_zone():
    today = local_today()
    someone = member(birth_date=dt.date(1992, today.month, today.day))

    assert scheduled_events_task() == 1
    assert scheduled_events_task() == 0
    assert [row[1] for row in stored()] == [f"birthday:{today.year}:{someone.member_number}"]
    entry = app.conf.beat_schedule["scheduled-events"]
    assert (entry["task"], entry["schedule"]) == (
        "challenges.tasks.scheduled_events_task",
        crontab(hour=0, minute=5),
    )


def test_a_future_day_is_refused_and_creates_nothing():
    tomorrow = local_today() + dt.timedelta(days=1)
    member(birth_date=tomorrow.replace(year=1992))
    with pytest.raises(InvalidScheduleDay, match="Must not be in the future.") as caught:
        scheduled_events_create(day=tomorrow)
    assert caught.value.field == "day"
    assert not ScheduledEventsDay.objects.exists()
    assert not Event.objects.exists()


# --- the management command ------------------------------------------------------------------


def test_command_runs_one_day_and_prints_the_counts():
    member(birth_date=dt.date(1990, 6, 5))
    out = io.StringIO()

    call_command("scheduled_events", "--date", "2025-06-05", stdout=out)
    call_command("scheduled_events", "--date", "2025-06-05", stdout=out)

    assert out.getvalue().splitlines() == [
        "2025-06-05: birthday 1, anniversary 0, win_back 0",
        "2025-06-05: birthday 0, anniversary 0, win_back 0",
    ]
    assert Event.objects.count() == 1


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("2025-13-01", "--date: not a date (YYYY-MM-DD): '2025-13-01'"),
        ("yesterday", "--date: not a date (YYYY-MM-DD): 'yesterday'"),
        ("2999-01-01", "--date: Must not be in the future."),
        ("1999-12-31", "--date: Must not be before 2000-01-01."),
    ],
)
def test_command_refuses_a_bad_date(value, message):
    with pytest.raises(CommandError) as caught:
        call_command("scheduled_events", "--date", value)
    assert str(caught.value) == message
    assert not ScheduledEventsDay.objects.exists()


# --- the event types -------------------------------------------------------------------------


def test_members_cannot_send_scheduled_types():
    someone = MemberFactory()
    response = member_app(someone).post(
        "/api/v1/me/events",
        {
            "client_id": "B-1",
            "type": "birthday",
            "occurred_at": timezone.now().isoformat(),
            "payload": {"age": 30},
        },
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"type": ["Members can't send this event type."]}
    assert not Event.objects.exists()


# --- end to end ------------------------------------------------------------------------------


def test_a_birthday_challenge_grants_its_points_once_however_often_the_job_runs():
    preset("birthday_gift", points=500)
    challenge_create(
        code="twenty",
        definition={
            "name": "Turning 20",
            "triggers": ["birthday"],
            "conditions": {"field": "event.payload.age", "op": "eq", "value": 20},
            "effects": [{"type": "points", "points": 2000}],
            "starts_at": dt.datetime(2025, 1, 1, tzinfo=JST),
        },
        status="active",
    )
    thirty_five = member(birth_date=dt.date(1990, 6, 5))
    twenty = member(birth_date=dt.date(2006, 6, 5))
    member(birth_date=dt.date(1990, 6, 6))

    for _ in range(2):
        scheduled_events_create(day=dt.date(2026, 6, 5))  # the preset starts on 2026-01-01
        process()

    assert challenge_points(thirty_five) == [("Birthday gift", 500)]
    assert challenge_points(twenty) == [("Birthday gift", 500), ("Turning 20", 2000)]
    assert Award.objects.count() == 3
    assert Event.objects.filter(status="processed").count() == 2
    thirty_five.refresh_from_db()
    assert thirty_five.points_available == 500


# --- the setting -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "days"),
    [(None, [30, 60, 90, 180]), (" 90, 14,90 ", [14, 90]), ("", []), ("7", [7])],
)
def test_win_back_days_setting(monkeypatch, value, days):
    if value is None:
        monkeypatch.delenv("LOYALTY_WIN_BACK_DAYS", raising=False)
    else:
        monkeypatch.setenv("LOYALTY_WIN_BACK_DAYS", value)
    defaults = ["30", "60", "90", "180"]
    items = loyalty_settings.env_list("LOYALTY_WIN_BACK_DAYS", defaults)
    assert loyalty_settings.days_list("LOYALTY_WIN_BACK_DAYS", items) == days


@pytest.mark.parametrize("items", [["30", "0"], ["abc"], ["3651"], ["-5"], ["1.5"]])
def test_bad_win_back_days_are_refused_naming_the_variable(items):
    with pytest.raises(ImproperlyConfigured) as caught:
        loyalty_settings.days_list("LOYALTY_WIN_BACK_DAYS", items)
    assert str(caught.value) == (
        "LOYALTY_WIN_BACK_DAYS must be comma-separated whole numbers of days from 1 to 3650, "
        f"got {','.join(items)!r}"
    )


def test_a_bad_win_back_days_value_stops_the_start(tmp_path):
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "DJANGO_SETTINGS_MODULE": "loyalty.settings",
        "LOYALTY_VAR_DIR": str(tmp_path / "var"),
        "PYTHONDONTWRITEBYTECODE": "1",
        "LOYALTY_WIN_BACK_DAYS": "30,sixty",
    }
    refused = subprocess.run(  # noqa: S603 (our own interpreter and script)
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert refused.returncode == 1
    assert refused.stderr.strip().splitlines()[-1] == (
        "django.core.exceptions.ImproperlyConfigured: LOYALTY_WIN_BACK_DAYS must be "
        "comma-separated whole numbers of days from 1 to 3650, got '30,sixty'"
    )
