"""metrics.kpis.rollup.create_temporary on PostgreSQL: the tables a KPI run and the member
state's update read are analysed (never auto-analysed), by the columns asked for."""

import pytest
from django.db import connection

from metrics.kpis.rollup import create_temporary, drop_temporary

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

ROWS = ("SELECT g AS member_id, g %% 3 AS other FROM generate_series(1, 50) g", [])


def _analysed(table: str) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT attname FROM pg_stats WHERE tablename = %s ORDER BY attname", [table]
        )
        return [row[0] for row in cursor.fetchall()]


def test_a_temporary_table_is_analysed_in_full_by_default():
    create_temporary("kpi_test_all", ROWS)
    assert _analysed("kpi_test_all") == ["member_id", "other"]
    drop_temporary("kpi_test_all")


def test_a_temporary_table_is_analysed_by_the_columns_asked_for():
    create_temporary("kpi_test_key", ROWS, analyze=("member_id",))
    assert _analysed("kpi_test_key") == ["member_id"]
    drop_temporary("kpi_test_key")


def test_a_column_name_that_is_not_plain_is_refused():
    with pytest.raises(ValueError, match="not a plain identifier"):
        create_temporary("kpi_test_bad", ROWS, analyze=("member_id); DROP TABLE x; --",))
