"""The KPI benchmark's data and its DuckDB comparison (bench/kpi_data.py, bench/kpis.py), at a
size that runs in seconds: the generated programme is one the ledger accepts, and DuckDB,
given the very statements the nightly run sent PostgreSQL, returns the same rows."""

import datetime as dt
import importlib.util
import sys
from pathlib import Path

import pytest
from django.db import connection

from challenges.builtin_types import event_types_ensure_builtin
from loyalty.selectors import ledger_drift
from members.models import Member

BENCH = Path(__file__).resolve().parents[2] / "bench"
TODAY = dt.date(2026, 11, 22)

# Committed data, as the benchmark's: the rebuild then computes the spans on a second
# connection (metrics.second_connection), whose statements are recorded and replayed too.
pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def bench_module(name: str):
    sys.path.insert(0, str(BENCH))
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def loaded():
    event_types_ensure_builtin()  # an earlier transactional test's flush removed them
    kpi_data = bench_module("kpi_data")
    size = kpi_data.Size(members=300, purchases=1500, responses=60, awards=100, challenges=3)
    return kpi_data.load(size, today=TODAY)


def test_the_tables_a_programme_appends_to_lie_in_the_order_of_business_time(loaded):
    """As a programme's database receives them: a night's rows on the tables' last pages."""
    with connection.cursor() as cursor:
        for table in ("loyalty_purchase", "loyalty_ledgerentry", "challenges_award"):
            cursor.execute(
                "SELECT COUNT(*) FILTER (WHERE occurred_at < earlier), COUNT(*) FROM"  # noqa: S608
                f" (SELECT occurred_at, LAG(occurred_at) OVER (ORDER BY ctid) AS earlier"
                f" FROM {table}) t"
            )
            out_of_order, rows = cursor.fetchone()
            assert (table, out_of_order) == (table, 0)
            assert rows == loaded[table]


def test_generated_programme_is_one_the_ledger_accepts(loaded):
    assert loaded["members_member"] == 300
    assert loaded["loyalty_purchase"] == 1500
    assert loaded["challenges_award"] == 100
    assert loaded["metrics_answer"] == 60 * 5 + 6  # five scores each, one in ten writes why
    # Cached balances equal the ledger's sums and every lot its movements (check_ledger).
    assert ledger_drift() == []
    assert Member.objects.filter(points_available__gt=0).count() > 0
    with connection.cursor() as cursor:
        # No purchase before its member joined, after they withdrew, or in the future.
        cursor.execute(
            "SELECT COUNT(*) FROM loyalty_purchase p JOIN members_member m ON m.id = p.member_id"
            " WHERE p.occurred_at < m.joined_at OR p.occurred_at > COALESCE(m.withdrawn_at, %s)",
            [dt.datetime.combine(TODAY, dt.time(), tzinfo=dt.UTC)],
        )
        assert cursor.fetchone() == (0,)
        # Every lot whose year is over was expired to nothing.
        cursor.execute(
            "SELECT COUNT(*) FROM loyalty_pointlot WHERE remaining > 0 AND expires_at < %s",
            [dt.datetime.combine(TODAY, dt.time(), tzinfo=dt.UTC) - dt.timedelta(hours=1)],
        )
        assert cursor.fetchone() == (0,)


def test_duckdb_returns_what_postgresql_returns_for_the_nightly_statements(loaded, tmp_path):
    kpis = bench_module("kpis")
    # As the benchmark runs: the full recompute the night before, then the night.
    full = kpis.nightly(TODAY - dt.timedelta(days=1), fresh=True)
    kpis.nightly(TODAY, fresh=False)
    from metrics.kpis.base import REGISTRY
    from metrics.models import MemberState

    assert set(full.per_kpi) == set(REGISTRY)
    statements = full.recorder.statements
    assert len(statements) > len(REGISTRY)
    state = list(MemberState.objects.order_by("member_id").values_list())
    assert MemberState.objects.filter(version=TODAY).exists()  # the night moved rows on
    _pg_seconds, pg_rows, pg_each = kpis.postgres_times(statements)
    # The replay of the full recompute leaves the member state at the night's cutoff.
    assert list(MemberState.objects.order_by("member_id").values_list()) == state
    db = kpis.duckdb_copy(tmp_path, kpis.tables_used(statements))
    try:
        _duck_seconds, duck_rows, duck_each = kpis.duckdb_times(db, statements)
    finally:
        db.close()
    different = [
        (sql[:120], kpis._rows(a)[:3], kpis._rows(b)[:3])
        for (sql, _params), a, b in zip(statements, pg_rows, duck_rows, strict=True)
        if a is not None and kpis._rows(a) != kpis._rows(b)
    ]
    assert different == []
    assert any(rows for rows in pg_rows)  # the statements found data
    assert len(pg_each) == len(duck_each) == len(statements)  # a time for each statement
    # The rebuild's bulk load (keys dropped, then built) is replayed on PostgreSQL: each
    # state table's primary key, its only index.
    assert {sql.split()[2] for sql, _ in statements if " ADD CONSTRAINT " in sql} == {
        "metrics_memberstate",
        "metrics_memberchannelstate",
        "metrics_memberactivespan",
        "metrics_memberperiodbase",
    }
    # The member state's build from the books is replayed too: DuckDB does that work as well.
    assert any(sql.startswith('INSERT INTO "metrics_memberstate"') for sql, _ in statements)
    assert any(sql.startswith('INSERT INTO "metrics_memberactivespan"') for sql, _ in statements)
    assert any(sql.startswith("CREATE UNLOGGED TABLE kpi_state_spans") for sql, _ in statements)
    assert any(sql.startswith("INSERT INTO kpi_state_bases_staged") for sql, _ in statements)
