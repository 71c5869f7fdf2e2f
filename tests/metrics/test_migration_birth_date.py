"""Migration 0011 adds the birth date to the member state's rows: it clears the state's mark,
so the next update rebuilds the rows with it filled rather than moving rows without it on."""

import datetime as dt

import pytest
from django.db import connection

from tests.migrations import migrate

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.usefixtures("latest_migrations_after")
def test_it_clears_the_mark_and_adds_the_column():
    old = migrate([("metrics", "0010_member_state_natural_keys")])
    old.get_model("metrics", "MemberStateMark").objects.create(
        as_of=dt.date(2026, 11, 22),
        read_at=dt.datetime(2026, 11, 22, 1, tzinfo=dt.UTC),
        lapse_days=180,
        repeat_months=12,
    )
    new = migrate([("metrics", "0011_member_state_birth_date")])
    assert new.get_model("metrics", "MemberStateMark").objects.count() == 0
    with connection.cursor() as cursor:
        table = connection.introspection.get_table_description(cursor, "metrics_memberstate")
    assert "birth_date" in [c.name for c in table]
