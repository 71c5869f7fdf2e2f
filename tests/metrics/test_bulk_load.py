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
    # The primary key, the unique (period, start, member) constraint and the member index.
    assert len(before) == 3
    with transaction.atomic():
        with indexes_built_after(MemberPeriodBase, MemberChannelState):
            assert _indexes(table) == []
            assert _indexes(MemberChannelState._meta.db_table) == []
        assert _indexes(table) == before


def test_the_unique_constraint_is_enforced_again_after():
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
