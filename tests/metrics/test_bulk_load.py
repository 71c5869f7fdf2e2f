"""metrics.bulk_load: a rebuild fills the state's tables without their indexes, then gives
them back exactly as they were."""

import pytest
from django.db import connection, transaction

from metrics.bulk_load import indexes_built_after
from metrics.models import MemberChannelState, MemberPeriodBase

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def _indexes(table: str) -> list[tuple[str, str]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s ORDER BY indexname",
            [table],
        )
        return cursor.fetchall()


def test_indexes_are_dropped_inside_and_recreated_identically_after():
    table = MemberPeriodBase._meta.db_table
    before = _indexes(table)
    # The primary key, (member, period, start): the table's only index.
    assert [definition.split(" USING ")[1] for _name, definition in before] == [
        "btree (member_id, period, start)"
    ]
    with transaction.atomic():
        with indexes_built_after(MemberPeriodBase, MemberChannelState):
            assert _indexes(table) == []
            assert _indexes(MemberChannelState._meta.db_table) == []
        assert _indexes(table) == before


def test_the_primary_key_is_enforced_again_after():
    from django.db import IntegrityError

    row = {
        "member_id": 1,
        "period": "month",
        "start": "2026-11-01",
        "d_segment": "existing",
        "d_tier": "",
        "d_store": "",
        "d_age": "",
        "d_gender": "",
    }
    with transaction.atomic():
        with indexes_built_after(MemberPeriodBase):
            MemberPeriodBase.objects.create(**row)
        with pytest.raises(IntegrityError), transaction.atomic():
            MemberPeriodBase.objects.create(**row)


def test_a_failing_block_leaves_the_indexes_in_place():
    table = MemberPeriodBase._meta.db_table
    before = _indexes(table)
    with pytest.raises(ValueError), transaction.atomic():
        with indexes_built_after(MemberPeriodBase):
            raise ValueError("the load failed")
    assert _indexes(table) == before


def test_the_member_state_is_unlogged_and_the_books_and_snapshots_are_not():
    # Derived from the books and rebuilt from them: no write-ahead log for it. A crash
    # empties every unlogged table, the state's mark with them, so the next update rebuilds.
    from metrics import models

    state = [
        getattr(models, name)._meta.db_table
        for name in (
            "MemberState",
            "MemberChannelState",
            "MemberActiveSpan",
            "MemberPeriodBase",
            "MemberStateMark",
            "MemberStateTotals",
            "MemberChannelTotals",
            "MemberPeriodBaseTotals",
        )
    ]
    kept = ["loyalty_purchase", "loyalty_ledgerentry", "members_member", "metrics_kpisnapshot"]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname, relpersistence FROM pg_class"
            " WHERE relname = ANY(%s) AND relkind = 'r'",
            [state + kept],
        )
        persistence = dict(cursor.fetchall())
    assert persistence == {**dict.fromkeys(state, "u"), **dict.fromkeys(kept, "p")}
