"""The PostgreSQL settings the KPI statements run with (docs/metrics.md, "KPI engine")."""

from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from django.db import connection, transaction


@contextmanager
def kpi_plans(*, index_scans: bool = False) -> Iterator[None]:
    """PostgreSQL only: no JIT compilation for the KPI statements, and the work_mem of
    LOYALTY_KPI_WORK_MEM_MB. Their cost estimates (correlated subqueries) pass jit_above_cost
    although each runs in milliseconds to a second, and compiling one takes about a second:
    measured, JIT made the demo data's month recompute 3.7 times slower. With the server's
    4 MB work_mem, a membership test against a year of purchases is no longer hashed but
    probed row by row. Without `index_scans`, range scans use bitmap scans (a plain index scan
    walked a year of purchases in member order, four times slower); the member state's
    nightly update reads a few members' rows and wants them. SET LOCAL needs a transaction;
    on SQLite none is opened (it would take the write lock while reading)."""
    if connection.vendor != "postgresql":
        yield
        return
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL jit = off")
            cursor.execute(f"SET LOCAL work_mem = '{int(settings.LOYALTY_KPI_WORK_MEM_MB)}MB'")
            if index_scans:
                # The pages a few members' rows are on are cached: a probe per member costs
                # far less than the planner's default for a random read assumes.
                cursor.execute("SET LOCAL random_page_cost = 1.1")
            else:
                cursor.execute("SET LOCAL enable_indexscan = off")
        yield


@contextmanager
def planner_settings(**values: str) -> Iterator[None]:
    """PostgreSQL only: planner settings (`enable_nestloop="off"`, ...) for the statements
    run in the block, in the open transaction; the earlier values come back after it."""
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        earlier = {}
        for name, value in values.items():
            cursor.execute(
                "SELECT current_setting(%s), set_config(%s, %s, true)", [name, name, value]
            )
            earlier[name] = cursor.fetchone()[0]
    yield  # a failed statement aborts the transaction, and its settings go with it
    with connection.cursor() as cursor:
        for name, value in earlier.items():
            cursor.execute("SELECT set_config(%s, %s, true)", [name, value])
