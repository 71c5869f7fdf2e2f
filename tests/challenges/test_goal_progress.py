"""Goal progress rows are dated by the events (GoalProgress.started_at, completed_at), set once
and never rewritten, whatever batch or processing time later events come in.

Challenges (from 1 Jan 2026, triggered by app_open):
    three:   30 points when 3 opens are reached (window: the campaign)
    monthly:  5 points when 2 opens are reached in a month
"""

import datetime as dt
import importlib

import pytest
from django.apps import apps as django_apps

from challenges.models import EventType, GoalProgress
from challenges.processing import events_process_batch
from challenges.services import challenge_create, challenge_revise
from tests.challenges.support import JST, START, challenge_points, event, integration
from tests.members.factories import MemberFactory

pytestmark = pytest.mark.django_db


def goal_rule(name, *, points, target, window):
    return {
        "name": name,
        "triggers": ["app_open"],
        "effects": [{"type": "points", "points": points}],
        "goal": {"kind": "count", "target": target, "window": window},
        "starts_at": START,
    }


def opened(day: str) -> dt.datetime:
    """10:00 in Tokyo on `day`."""
    return dt.datetime.fromisoformat(f"{day}T10:00:00").replace(tzinfo=JST)


def send_and_process(pos, member, opens: dict[str, str], *, processed: dt.datetime) -> None:
    """Send the opens {client id: day} and process them as one batch at time `processed`."""
    for client_id, day in opens.items():
        body = event(client_id, member, "app_open", when=opened(day).isoformat())
        assert pos.post("/api/v1/events", body, format="json").status_code == 201
    assert events_process_batch(now=processed) == len(opens)


def rows(member) -> dict[tuple[str, str], tuple]:
    return {
        (p.challenge.code, p.window): (p.value, p.started_at, p.completed_at)
        for p in GoalProgress.objects.filter(member=member).select_related("challenge")
    }


def test_started_and_completed_are_the_events_times_and_are_never_rewritten():
    challenge_create(
        code="three",
        definition=goal_rule("Three opens", points=30, target=3, window="campaign"),
        status="active",
    )
    challenge_create(
        code="monthly",
        definition=goal_rule("Two a month", points=5, target=2, window="month"),
        status="active",
    )
    member = MemberFactory()
    pos = integration()
    # Processing times far from the events' own: a row dated by them would show it.
    late = dt.datetime(2026, 9, 1, tzinfo=JST)

    # Batch 1: E-1 on 1 June starts both goals.
    send_and_process(pos, member, {"E-1": "2026-06-01"}, processed=late)
    assert rows(member) == {
        ("three", "campaign"): (1, opened("2026-06-01"), None),
        ("monthly", "2026-06"): (1, opened("2026-06-01"), None),
    }

    # Batch 2, a day later: E-2 (2 June) completes June's monthly goal; E-3 (3 June)
    # completes three. E-3 comes after June's monthly goal was completed in the same batch:
    # that row keeps E-2's time. Both rows keep E-1's start.
    send_and_process(
        pos, member, {"E-2": "2026-06-02", "E-3": "2026-06-03"}, processed=late + dt.timedelta(1)
    )
    done = {
        ("three", "campaign"): (3, opened("2026-06-01"), opened("2026-06-03")),
        ("monthly", "2026-06"): (2, opened("2026-06-01"), opened("2026-06-02")),
    }
    assert rows(member) == done

    # Batch 3, a week later: E-4 (1 July) and E-5 (2 July) come after three's completion,
    # E-0 (31 May) arrives late, before it. three was completed: neither its completion nor
    # its start moves. monthly starts May's window with E-0 (the batch is taken in event
    # order, E-0 first) and July's with E-4, which E-5 completes.
    send_and_process(
        pos,
        member,
        {"E-4": "2026-07-01", "E-5": "2026-07-02", "E-0": "2026-05-31"},
        processed=late + dt.timedelta(7),
    )
    assert rows(member) == {
        **done,
        ("monthly", "2026-05"): (1, opened("2026-05-31"), None),
        ("monthly", "2026-07"): (2, opened("2026-07-01"), opened("2026-07-02")),
    }
    # three paid once (E-3), monthly for June (E-2) and July (E-5).
    assert challenge_points(member) == [("Two a month", 5), ("Three opens", 30), ("Two a month", 5)]


def test_a_goal_met_over_budget_completes_at_the_event_that_is_paid():
    """Two opens for 30 points, budget 30 points: member A's completion uses it up. Member
    B reaches the target unpaid (progress kept, not completed); once the budget is raised (a
    new version), B's next event completes it, dated by that event."""
    challenge = challenge_create(
        code="two",
        definition={
            **goal_rule("Two opens", points=30, target=2, window="campaign"),
            "budget": {"points": 30},
        },
        status="active",
    )
    a, b = MemberFactory(), MemberFactory()
    pos = integration()
    late = dt.datetime(2026, 9, 1, tzinfo=JST)
    send_and_process(pos, a, {"A-1": "2026-06-01", "A-2": "2026-06-02"}, processed=late)
    send_and_process(pos, b, {"B-1": "2026-06-03", "B-2": "2026-06-04"}, processed=late)
    assert rows(a) == {("two", "campaign"): (2, opened("2026-06-01"), opened("2026-06-02"))}
    assert rows(b) == {("two", "campaign"): (2, opened("2026-06-03"), None)}

    challenge_revise(
        challenge=challenge,
        definition={
            **goal_rule("Two opens", points=30, target=2, window="campaign"),
            "budget": {"points": 60},
        },
    )
    send_and_process(pos, b, {"B-3": "2026-06-05"}, processed=late + dt.timedelta(1))

    assert rows(b) == {("two", "campaign"): (3, opened("2026-06-03"), opened("2026-06-05"))}
    assert challenge_points(b) == [("Two opens", 30)]


def test_migration_0005_backfills_started_at_from_updated_at_and_closes_survey_answered():
    """Rows written before started_at existed get their last write's time (the migration's
    chosen late bound); survey_answered stops being a member-app type."""
    migration = importlib.import_module(
        "challenges.migrations.0005_goal_progress_started_at_survey_answered_not_app"
    )
    challenge = challenge_create(
        code="three",
        definition=goal_rule("Three opens", points=30, target=3, window="campaign"),
        status="active",
    )
    old = GoalProgress.objects.create(
        member=MemberFactory(), challenge=challenge, window="campaign", value=1
    )
    started = GoalProgress.objects.create(
        member=MemberFactory(),
        challenge=challenge,
        window="campaign",
        value=1,
        started_at=opened("2026-06-01"),
    )
    EventType.objects.filter(code="survey_answered").update(member_app=True)

    migration.backfill_started_at(django_apps, None)
    migration.survey_answered_not_member_app(django_apps, None)

    old.refresh_from_db()
    assert old.started_at == old.updated_at
    assert GoalProgress.objects.get(pk=started.pk).started_at == opened("2026-06-01")
    assert EventType.objects.get(code="survey_answered").member_app is False
    assert sorted(EventType.objects.filter(member_app=True).values_list("code", flat=True)) == [
        "app_open",
        "event_attendance",
        "sns_follow",
    ]
