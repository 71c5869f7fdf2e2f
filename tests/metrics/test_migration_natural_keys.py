"""Migration 0010 makes the member state's channel rows, spans and churn bases again with
natural keys: it clears the state's mark, so the next update rebuilds from the books rather
than moving an emptied state on."""

import datetime as dt

import pytest
from django.db import connection

from tests.migrations import migrate

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("metrics", "0009_member_state_unlogged")]
AFTER = [("metrics", "0010_member_state_natural_keys")]


@pytest.mark.usefixtures("latest_migrations_after")
def test_it_clears_the_mark_and_keys_the_tables_by_member_first():
    old = migrate(BEFORE)
    old.get_model("metrics", "MemberStateMark").objects.create(
        as_of=dt.date(2026, 11, 22),
        read_at=dt.datetime(2026, 11, 22, 1, tzinfo=dt.UTC),
        lapse_days=180,
        repeat_months=12,
    )
    new = migrate(AFTER)
    assert new.get_model("metrics", "MemberStateMark").objects.count() == 0
    with connection.cursor() as cursor:
        keys = {
            table: [c.name for c in connection.introspection.get_table_description(cursor, table)]
            for table in ("metrics_memberperiodbase", "metrics_memberchannelstate")
        }
        constraints = connection.introspection.get_constraints(cursor, "metrics_memberperiodbase")
    assert "id" not in keys["metrics_memberperiodbase"]
    assert "id" not in keys["metrics_memberchannelstate"]
    primary = [c["columns"] for c in constraints.values() if c["primary_key"]]
    assert primary == [["member_id", "period", "start"]]
