"""KPI computation at scale, beside DuckDB running the same statements on the same data.

    python bench/kpis.py [--scale 1.0] [--today 2026-11-22] [--reload]

Needs PostgreSQL (DATABASE_URL names the server; the data goes into its own database,
`loyalty_kpibench_<members>`, kept between runs because loading a million members takes
minutes; --reload rebuilds it). Scale 1.0 is 1,000,000 members and about 10 million ledger
entries (bench/kpi_data.py).

It measures, on that data:
1. the full recompute: the nightly run (`kpis_nightly`: every KPI for the windows containing
   yesterday) two days before, from nothing (no snapshots, no member state: the state is
   built from the books), with the time per KPI; twice, the second time with the books as
   warm in the page cache as the machine keeps them (as DuckDB's copy is when it runs);
2. the next two nights' runs, each after the one before: the member state moved on by the
   day's data; the first night after the rebuild, then a night after a night (the nightly
   run as it runs every night), with the time per KPI and the peak memory of the process;
3. the full recompute's statements run again alone, one after another on one connection
   (PostgreSQL's own time; the run itself overlaps a rebuild's two chains on two
   connections: metrics.second_connection);
4. DuckDB running those very statements (parameters bound, SQL unchanged; the state's build
   included) over a copy of the same tables, and whether both return the same rows; the
   ratio of PostgreSQL's replay to DuckDB's, and of the full recompute as it ran.
"""

import argparse
import collections
import datetime as dt
import re
import resource
import sys
import tempfile
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from _support import ROOT  # noqa: E402,F401  (sets up Django)
from django.db import connection, connections, transaction
from kpi_data import Size, load, table_counts

_TYPES = {
    "bigint": "BIGINT",
    "integer": "INTEGER",
    "smallint": "SMALLINT",
    "boolean": "BOOLEAN",
    "date": "DATE",
    "text": "VARCHAR",
    "character varying": "VARCHAR",
    "timestamp with time zone": "TIMESTAMPTZ",
    "jsonb": "JSON",
    "numeric": "DECIMAL(18,6)",
}


def use_database(name: str, *, reload: bool, size: Size, today: dt.date) -> dict[str, int]:
    """Point Django at database `name` on the configured server, loading it when new."""
    from django.core.management import call_command

    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        exists = cursor.fetchone() is not None
        if exists and reload:
            cursor.execute(f'DROP DATABASE "{name}"')
            exists = False
        if not exists:
            cursor.execute(f'CREATE DATABASE "{name}"')
    connection.close()
    connections.databases["default"]["NAME"] = name
    connection.settings_dict["NAME"] = name
    call_command("migrate", verbosity=0)
    if not exists:
        started = time.perf_counter()
        counts = load(size, today=today)
        print(f"loaded {name} in {time.perf_counter() - started:.0f} s")
        return counts
    return table_counts()


_WORK = (
    "SELECT",
    "WITH",
    "CREATE TEMPORARY TABLE KPI_",
    # A rebuild's spans and churn bases, from its second connection.
    "CREATE UNLOGGED TABLE KPI_",
    "INSERT INTO KPI_",
    "DROP TABLE IF EXISTS KPI_",
    "ANALYZE KPI_",
    # The member state's rebuild: part of computing the KPIs from the books.
    'DELETE FROM "METRICS_MEMBER',
    'TRUNCATE "METRICS_MEMBER',
    'INSERT INTO "METRICS_MEMBER',
    # A rebuild drops the state tables' indexes and builds them after its inserts
    # (metrics.bulk_load), reading their definitions from the catalogue first.
    "ALTER TABLE METRICS_MEMBER",
    "DROP INDEX METRICS_MEMBER",
    "CREATE INDEX METRICS_MEMBER",
    "CREATE UNIQUE INDEX METRICS_MEMBER",
)
# Statements DuckDB has no counterpart for: its copy of the tables has no indexes or
# constraints to drop and build, and no PostgreSQL catalogue to read them from.
_POSTGRES_ONLY = ("ALTER TABLE", "DROP INDEX", "CREATE INDEX", "CREATE UNIQUE INDEX")
# Nor planner settings (metrics.kpis.plans.planner_settings).
_POSTGRES_ONLY_PARTS = ("PG_CONSTRAINT", "PG_INDEX", "SET_CONFIG(")


def _postgres_only(sql: str) -> bool:
    upper = sql.lstrip().upper()
    return upper.startswith(_POSTGRES_ONLY) or any(part in upper for part in _POSTGRES_ONLY_PARTS)


class Recorder:
    """Records the statements of a KPI run (sql, params): its queries, the temporary tables
    they read and the member state's writes, not its snapshot writes."""

    def __init__(self):
        self.statements: list[tuple[str, tuple]] = []
        self.seconds: list[tuple[float, str]] = []  # every statement's time, as it ran

    def __call__(self, execute, sql, params, many, context):
        upper = sql.lstrip().upper()
        if (
            upper.startswith(_WORK)
            and "metrics_kpi" not in sql
            and "METRICS_MEMBERSTATEMARK" not in upper
        ):
            self.statements.append((sql, tuple(params or ())))
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.seconds.append((time.perf_counter() - started, sql))


@dataclass
class Night:
    seconds: float
    state_seconds: float  # of which: moving the member state to the night's cutoff
    per_kpi: dict[str, float]
    recorder: Recorder


def nightly(today: dt.date, *, fresh: bool) -> Night:
    """The nightly run for `today`: `fresh`, from nothing (no snapshots, no member state:
    everything from the books, the full recompute); otherwise after the previous night's."""
    import metrics.snapshots as snapshots
    from metrics.models import KpiFillState, KpiSnapshot, MemberStateMark

    if fresh:
        KpiSnapshot.objects.all().delete()
        KpiFillState.objects.all().delete()
        MemberStateMark.objects.all().delete()
    per_kpi: dict[str, float] = collections.Counter()
    plain, update = snapshots._values, snapshots.member_state_update
    state_seconds = 0.0

    def timed(kpi, window, cache):
        started = time.perf_counter()
        try:
            return plain(kpi, window, cache)
        finally:
            per_kpi[kpi.code] += time.perf_counter() - started

    def timed_update(**kwargs):
        nonlocal state_seconds
        started = time.perf_counter()
        try:
            return update(**kwargs)
        finally:
            state_seconds += time.perf_counter() - started

    recorder = Recorder()
    snapshots._values, snapshots.member_state_update = timed, timed_update
    try:
        with connection.execute_wrapper(recorder):
            started = time.perf_counter()
            snapshots.kpis_nightly(today=today)
            seconds = time.perf_counter() - started
    finally:
        snapshots._values, snapshots.member_state_update = plain, update
    return Night(seconds, state_seconds, per_kpi, recorder)


def report(title: str, night: Night, slowest: int) -> None:
    print(f"{title}: {night.seconds:.1f} s, of which the member state {night.state_seconds:.1f} s")
    for code, spent in night.per_kpi.most_common():
        print(f"  {code:<32} {spent:7.2f} s")
    if slowest:
        print(f"  its {slowest} slowest statements (s):")
        for seconds, sql in sorted(night.recorder.seconds, key=lambda pair: -pair[0])[:slowest]:
            print(f"  {seconds:6.2f}  {_head(sql)}")


def _head(sql: str) -> str:
    return " ".join(sql.split())[:100]


def _rows(rows) -> list[tuple]:
    """Rows comparable across engines: numbers as rounded Decimals, order-free."""

    def norm(v):
        if isinstance(v, bool) or v is None:
            return v
        if isinstance(v, int | float | Decimal):
            return round(Decimal(str(v)), 4)
        if isinstance(v, dt.datetime):
            return v.astimezone(dt.UTC).replace(tzinfo=None)
        return v

    return sorted((tuple(norm(v) for v in row) for row in rows), key=repr)


def postgres_times(statements) -> tuple[float, list, list]:
    """The statements again, with the settings the KPI run gives its statements."""
    from metrics.kpis.plans import kpi_plans

    results, each = [], []
    started = time.perf_counter()
    with transaction.atomic(), kpi_plans(), connection.cursor() as cursor:
        for sql, params in statements:
            begun = time.perf_counter()
            cursor.execute(sql, params)
            results.append(cursor.fetchall() if _query(sql) and not _postgres_only(sql) else None)
            each.append(time.perf_counter() - begun)
        seconds = time.perf_counter() - started
        # The replay rewrote the member state as the full recompute left it: the run's own
        # (at the night's cutoff) stays.
        transaction.set_rollback(True)
    return seconds, results, each


def _query(sql: str) -> bool:
    """A statement whose rows are compared (a write's RETURNING ids are not)."""
    return sql.lstrip().upper().startswith(("SELECT", "WITH"))


_TABLE = re.compile(r'(?:FROM|JOIN|INTO)\s+"([a-z0-9_]+)"')


def tables_used(statements) -> list[str]:
    """The tables the statements read or write (a rebuild only writes some of the state's:
    DuckDB needs them all the same)."""
    return sorted({name for sql, _params in statements for name in _TABLE.findall(sql)})


def duckdb_copy(path: Path, tables: list[str]):
    """A DuckDB database holding `tables`, copied through CSV."""
    import duckdb

    db = duckdb.connect(str(path / "kpis.duckdb"))
    db.execute("SET TimeZone = 'UTC'")
    db.execute("SET threads = 2")
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(
                "SELECT column_name, data_type FROM information_schema.columns"
                " WHERE table_name = %s ORDER BY ordinal_position",
                [table],
            )
            columns = cursor.fetchall()
            db.execute(
                f"CREATE TABLE {table} ("
                + ", ".join(f'"{name}" {_TYPES[kind]}' for name, kind in columns)
                + ")"
            )
            csv = path / f"{table}.csv"
            with (
                open(csv, "wb") as out,
                cursor.cursor.copy(
                    f"COPY {table} TO STDOUT (FORMAT csv)"  # noqa: S608
                ) as copy,
            ):
                for chunk in copy:
                    out.write(chunk)
            if csv.stat().st_size:
                db.execute(f"COPY {table} FROM '{csv}' (FORMAT csv)")
            csv.unlink()
    return db


_PLACEHOLDER = re.compile(r"%s")


_UNNEST = re.compile(r"SELECT \* FROM UNNEST\((.*)\)( RETURNING .*)?$")
_ARRAY = re.compile(r"\(%s\)::[a-z0-9() ]+\[\]")


def duckdb_sql(sql: str) -> str:
    """Django's PostgreSQL statement with DuckDB's placeholders; nothing else changes, but
    for a bulk insert's `SELECT * FROM UNNEST(a, b, ...)` (PostgreSQL's zip of arrays),
    which DuckDB writes `SELECT UNNEST(a), UNNEST(b), ...`."""
    bulk = _UNNEST.search(sql)
    if bulk:
        arrays = ", ".join(f"UNNEST({array})" for array in _ARRAY.findall(bulk[1]))
        sql = sql[: bulk.start()] + f"SELECT {arrays}{bulk[2] or ''}"
    if sql.startswith("CREATE UNLOGGED TABLE "):  # DuckDB's tables are never logged
        sql = "CREATE TABLE " + sql.removeprefix("CREATE UNLOGGED TABLE ")
    return _PLACEHOLDER.sub("?", sql).replace("%%", "%")


def duckdb_times(db, statements) -> tuple[float, list, list]:
    results, each = [], []
    started = time.perf_counter()
    for sql, params in statements:
        begun = time.perf_counter()
        # DuckDB keeps its statistics itself, and its copy has no indexes.
        if sql.startswith("ANALYZE") or _postgres_only(sql):
            results.append(None)
        else:
            cursor = db.execute(duckdb_sql(sql), list(params))
            results.append(cursor.fetchall() if _query(sql) else None)
        each.append(time.perf_counter() - begun)
    return time.perf_counter() - started, results, each


def slowest(statements, pg_each, duck_each, count: int) -> None:
    """The statements costing PostgreSQL the most, beside DuckDB's time for each."""
    print(f"  the {count} slowest on PostgreSQL (s, PostgreSQL / DuckDB):")
    ranked = sorted(range(len(statements)), key=lambda i: -pg_each[i])[:count]
    for i in ranked:
        print(f"  {i:4d} {pg_each[i]:6.2f} {duck_each[i]:6.2f}  {_head(statements[i][0])}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--today", type=dt.date.fromisoformat, default=dt.date(2026, 11, 22))
    parser.add_argument("--reload", action="store_true")
    parser.add_argument(
        "--slowest", type=int, default=12, help="list this many of the slowest statements"
    )
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("bench/kpis.py needs PostgreSQL: set DATABASE_URL")
    size = Size().scaled(args.scale)
    counts = use_database(
        f"loyalty_kpibench_{size.members}", reload=args.reload, size=size, today=args.today
    )
    print(
        f"data: {counts['members_member']:,} members, {counts['loyalty_purchase']:,} purchases,"
        f" {counts['loyalty_ledgerentry']:,} ledger entries,"
        f" {counts['metrics_answer']:,} survey answers, {counts['challenges_award']:,} awards"
    )
    # The full recompute: two nights before, from nothing. Then the two nights after it,
    # each moving on from the one before: the first night after a rebuild (it reads the
    # rebuilt tables for the first time, setting their rows' hint bits, and empties the
    # rebuild's day bases of every member active then), and a night after a night, as
    # every night runs in a programme whose state was rebuilt long ago.
    # Twice: the first run reads the books from disk as much as from memory (a machine
    # whose kernel pages out memory left unread, the page cache included, keeps only part
    # of a 10 GB database cached: docs/operations.md), the second from a cache as warm as
    # the machine keeps it, as DuckDB's copy is when it runs. Both are reported; the ratio
    # is given for both.
    rebuilt_on = args.today - dt.timedelta(days=2)
    cold = nightly(rebuilt_on, fresh=True)
    report(f"full recompute, nightly run ({rebuilt_on}) from nothing, first", cold, 0)
    full = nightly(rebuilt_on, fresh=True)
    report(f"full recompute, nightly run ({rebuilt_on}) from nothing, again", full, args.slowest)
    night_before = args.today - dt.timedelta(days=1)
    first = nightly(night_before, fresh=False)
    report(f"nightly run ({night_before}), the first after the full recompute", first, 0)
    night = nightly(args.today, fresh=False)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    report(f"nightly run ({args.today}) after the night before", night, args.slowest)
    print(f"  peak memory {peak:.0f} MiB")
    statements = full.recorder.statements
    pg_seconds, pg_rows, pg_each = postgres_times(statements)
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        db = duckdb_copy(Path(tmp), tables_used(statements))
        print(f"DuckDB copy of the tables: {time.perf_counter() - started:.0f} s")
        duck_seconds, duck_rows, duck_each = duckdb_times(db, statements)
        db.close()
    pairs = [(a, b) for a, b in zip(pg_rows, duck_rows, strict=True) if a is not None]
    same = sum(_rows(a) == _rows(b) for a, b in pairs)
    print(f"the run's {len(statements)} statements ({len(pairs)} queries), one after another:")
    print(f"  PostgreSQL {pg_seconds:8.1f} s")
    print(f"  DuckDB     {duck_seconds:8.1f} s   baseline")
    print(f"  ratio      {pg_seconds / duck_seconds:8.2f}x DuckDB")
    # The run itself overlaps two connections' statements (metrics.second_connection); DuckDB
    # runs its copy of them on two threads.
    for label, run in (("first", cold), ("again", full)):
        print(
            f"  the full recompute as it ran, {label} ({run.seconds:.1f} s, two connections):"
            f" {run.seconds / duck_seconds:.2f}x DuckDB"
        )
    print(f"  same rows from both: {same} of {len(pairs)} queries")
    slowest(statements, pg_each, duck_each, args.slowest)


if __name__ == "__main__":
    main()
