"""Award.occurred_at is its event's business time: written with the award, and copied from
the event onto awards written before the column existed (migration 0006)."""

import datetime as dt

import pytest
from django.db import connection

from challenges.builtin_types import event_types_ensure_builtin
from challenges.models import Award, Event
from challenges.services import challenge_create
from tests.challenges.support import integration, process
from tests.challenges.test_engine import open_app, visit_rule
from tests.members.factories import MemberFactory
from tests.migrations import migrate

JST = dt.timezone(dt.timedelta(hours=9))
OPENED = dt.datetime(2026, 6, 5, 10, tzinfo=JST)


def _award_an_open(client_id="E-1"):
    event_types_ensure_builtin()  # an earlier transactional test's flush removed them
    challenge_create(code="open", definition=visit_rule("Open"), status="active")
    open_app(integration(), MemberFactory(), client_id, when=OPENED.isoformat())
    process()  # committed (a transactional test), the intake may have processed it already
    assert Award.objects.count() == 1


@pytest.mark.django_db
def test_an_award_carries_its_events_time_not_when_it_was_processed():
    _award_an_open()

    award = Award.objects.get()
    # Processed now (December 2026), for an event of 5 June.
    assert award.created_at > OPENED + dt.timedelta(days=30)
    assert award.occurred_at == OPENED == Event.objects.get().occurred_at


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("latest_migrations_after")
def test_migration_0006_copies_each_events_time_onto_its_awards():
    _award_an_open()
    migrate([("challenges", "0005_goal_progress_started_at_survey_answered_not_app")])
    with connection.cursor() as cursor:
        table = connection.introspection.get_table_description(cursor, "challenges_award")
    columns = [c.name for c in table]
    assert "occurred_at" not in columns

    new = migrate([("challenges", "0006_award_occurred_at")])

    award = new.get_model("challenges", "Award").objects.get()
    assert award.occurred_at == OPENED
