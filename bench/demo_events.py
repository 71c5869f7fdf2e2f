"""Events per second through the worker on the demo data, on a throwaway test database.

    make bench-demo-events                                               # SQLite, in-process
    DATABASE_URL=postgres://... REDIS_URL=redis://... make bench-demo-events  # + 2 real workers

Loads the demo (`manage.py demo_data --defer-processing`: BENCH_DEMO_MEMBERS members, default
500, BENCH_DEMO_MONTHS months, default 12, seed BENCH_DEMO_SEED, default 42) with every
challenge event it creates left pending: purchases, returns, check-ins, SNS follows, survey
answers, event attendance and app opens of its members, against one active challenge per
preset. Then processes all of them:
- in this process (`events_process_pending`, batches of LOYALTY_EVENT_BATCH_SIZE);
- with PostgreSQL and a broker, the same pending events again (a copy of the database taken
  before the first run) by two real Celery worker processes, beside a bare no-op task round
  trip through the same broker and workers.
"""

import io
import os
import time
from contextlib import contextmanager

from _support import (  # noqa: E402 - sets Django up
    celery_workers,
    database_url,
    line,
    real_workers_possible,
    throwaway_database,
)
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.db.models import Count, Sum

MEMBERS = int(os.environ.get("BENCH_DEMO_MEMBERS", "500"))
MONTHS = int(os.environ.get("BENCH_DEMO_MONTHS", "12"))
SEED = int(os.environ.get("BENCH_DEMO_SEED", "42"))


def main():
    with throwaway_database():
        run()


def run():
    from challenges.models import Award, Event
    from challenges.processing import events_process_pending

    print(
        f"database: {connection.vendor}, demo of {MEMBERS:,} members x {MONTHS} months "
        f"(seed {SEED}), batch {settings.LOYALTY_EVENT_BATCH_SIZE}"
    )
    started = time.perf_counter()
    call_command(
        "demo_data",
        *("--members", str(MEMBERS), "--months", str(MONTHS), "--seed", str(SEED)),
        "--defer-processing",
        stdout=io.StringIO(),
        stderr=io.StringIO(),
    )
    pending = Event.objects.filter(status=Event.Status.PENDING)
    total = pending.count()
    mix = dict(pending.values_list("type__code").annotate(n=Count("id")).order_by("-n"))
    print(f"demo loaded in {time.perf_counter() - started:.0f} s: {total:,} events pending")
    print("  " + ", ".join(f"{code} {n:,}" for code, n in mix.items()))

    copy = None
    if real_workers_possible():
        copy = database_copy()
    try:
        started = time.perf_counter()
        done = events_process_pending(batch_size=settings.LOYALTY_EVENT_BATCH_SIZE)
        seconds = time.perf_counter() - started
        assert done == total, (done, total)
        line(f"in-process, {done:,} demo events", done / seconds)
        in_process = awards_line(Award)
        print(f"  {in_process}")
        if copy is not None:
            with on_database(copy):
                by_workers = two_workers(total)
            same = "the same as" if by_workers == in_process else "NOT the same as"
            print(f"  {by_workers}: {same} in-process")
    finally:
        if copy is not None:
            database_drop(copy)


def awards_line(award_model) -> str:
    totals = award_model.objects.aggregate(n=Count("id"), points=Sum("points", default=0))
    return f"{totals['n']:,} awards, {totals['points']:,} points granted"


def two_workers(total: int) -> str:
    """Process the copy's pending events with two workers; returns what they granted."""
    from challenges.models import Award, Event
    from challenges.tasks import process_pending_events_task

    with celery_workers(2, db_url=database_url(connection.settings_dict["NAME"])) as workers:
        baseline = workers.noop_baseline()
        line("bare no-op Celery task, 2 workers", baseline, is_baseline=True)
        pending = Event.objects.filter(status=Event.Status.PENDING)
        assert pending.count() == total
        started = time.perf_counter()
        for _ in range(4):
            process_pending_events_task.apply_async(queue=workers.queue)
        while pending.exists():
            time.sleep(0.05)
        line(
            f"2 Celery workers, {total:,} demo events",
            total / (time.perf_counter() - started),
            baseline,
        )
        return awards_line(Award)


# --- a copy of the loaded database, for the second run (PostgreSQL) -----------------------


def _maintenance(statement, *names):
    """Run `statement` (with {} for each database name) on the server's postgres database."""
    import psycopg
    from psycopg import sql

    db = connection.settings_dict
    with psycopg.connect(
        dbname="postgres",
        user=db["USER"],
        password=db.get("PASSWORD") or None,
        host=db["HOST"] or "127.0.0.1",
        port=db["PORT"] or 5432,
        autocommit=True,
    ) as conn:
        conn.execute(sql.SQL(statement).format(*map(sql.Identifier, names)))


def database_copy() -> str:
    """CREATE DATABASE ... TEMPLATE the test database (no one may be connected to it)."""
    source = connection.settings_dict["NAME"]
    name = f"{source}_copy"
    connection.close()
    _maintenance("DROP DATABASE IF EXISTS {}", name)
    _maintenance("CREATE DATABASE {} TEMPLATE {}", name, source)
    return name


def database_drop(name: str) -> None:
    _maintenance("DROP DATABASE IF EXISTS {} WITH (FORCE)", name)


@contextmanager
def on_database(name: str):
    """Point this process's connection at another database on the same server."""
    old = connection.settings_dict["NAME"]
    connection.close()
    connection.settings_dict["NAME"] = name
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict["NAME"] = old


if __name__ == "__main__":
    main()
