"""Challenge engine throughput on a throwaway test database.

    make bench-events                                   # SQLite, in-process
    DATABASE_URL=postgres://... REDIS_URL=redis://... make bench-events   # + 2 real workers

Prints, each beside its baseline and as a ratio:
- batch intake (events_ingest, 1,000 per call) against a bare bulk INSERT of the same rows;
- processing in one process (claim, load, evaluate against 100 active challenges, write
  awards and ledger, mark processed) in events per second;
- with PostgreSQL and a broker: the same with two real Celery worker processes, against a
  bare no-op Celery task round trip;
- evaluation cost per event with 10, 100 and 1,000 active challenges (pure evaluator time).
"""

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "loyalty.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402

N = int(os.environ.get("BENCH_EVENTS", "20000"))
MEMBERS = int(os.environ.get("BENCH_MEMBERS", "2000"))


def main():
    setup_test_environment()
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        run()
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)


def line(label, per_s, baseline=None):
    ratio = f"{per_s / baseline:5.2f}x baseline" if baseline else "baseline"
    print(f"{label:<58} {per_s:9.0f} events/s  {ratio}")


def challenges(count, start, prefix="bench"):
    """`count` active challenges as a marketer would set them up: most on app opens (the
    events the bench sends), each for its own campaign code, a few matching every event."""
    from challenges.services import challenge_create

    for n in range(count):
        if n % 10 == 0:  # broad: any app open at a weekday daytime hour
            condition = {
                "all": [
                    {"field": "time.hour", "op": "between", "value": [8, 20]},
                    {"field": "time.weekday", "op": "in", "value": ["mon", "tue", "wed", "thu"]},
                ]
            }
        else:  # narrow: one campaign's members in one tier / gender / month
            condition = {
                "all": [
                    {"field": "time.month", "op": "eq", "value": 1 + n % 12},
                    {"field": "member.gender", "op": "eq", "value": "female"},
                    {"field": "counter.events_this_month", "op": "lt", "value": 100},
                ]
            }
        challenge_create(
            code=f"{prefix}-{count}-{n}",
            definition={
                "name": f"Bench {n}",
                "triggers": ["app_open"],
                "conditions": condition,
                "effects": [{"type": "points", "points": 1 + n % 5}],
                "limit": {"count": 3, "period": "month"},
                "starts_at": start,
            },
            status="active",
        )


def events(members, n, prefix):
    return [
        {
            "client_id": f"{prefix}-{i}",
            "type": "app_open",
            "member_number": members[i % len(members)].member_number,
            "occurred_at": f"2026-06-{1 + i % 28:02d}T{8 + i % 12:02d}:00:00+09:00",
        }
        for i in range(n)
    ]


def run():
    import datetime as dt

    from challenges.intake import body_hash, events_ingest
    from challenges.models import Challenge, Event, EventType
    from challenges.processing import Batch, _claim, active_rules, events_process_pending
    from members.models import Member
    from members.numbers import generate_member_number

    settings.CELERY_TASK_ALWAYS_EAGER = False  # intake must not process in-line here
    print(f"database: {connection.vendor}, {N:,} events, {MEMBERS:,} members")
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    members = Member.objects.bulk_create(
        Member(member_number=generate_member_number(), name=f"bench {i}", joined_at=start)
        for i in range(MEMBERS)
    )
    challenges(100, start)
    from django.db import transaction

    # Intake: baseline = bulk INSERT of the same rows, no checks.
    app_open = EventType.objects.get(code="app_open")
    rows = events(members, N, "base")
    by_number = {m.member_number: m for m in members}
    started = time.perf_counter()
    for i in range(0, N, 1000):
        with transaction.atomic():
            Event.objects.bulk_create(
                Event(
                    source_key="baseline",
                    client_id=r["client_id"],
                    type=app_open,
                    member=by_number[r["member_number"]],
                    occurred_at=r["occurred_at"],
                    body_hash=body_hash({**r, "occurred_at": start}),
                    status="processed",
                    processed_at=start,
                )
                for r in rows[i : i + 1000]
            )
    baseline = N / (time.perf_counter() - started)
    line("bulk INSERT of event rows (1,000 per statement)", baseline)

    rows = events(members, N, "ev")
    started = time.perf_counter()
    for i in range(0, N, 1000):
        with transaction.atomic():
            results = events_ingest(source_key="bench", items=rows[i : i + 1000])
            assert all(r.result == "accepted" for r in results), results[0]
    line("events_ingest, batches of 1,000", N / (time.perf_counter() - started), baseline)

    # Processing in this process.
    started = time.perf_counter()
    done = events_process_pending(batch_size=settings.LOYALTY_EVENT_BATCH_SIZE)
    assert done == N, done
    single = N / (time.perf_counter() - started)
    line(
        f"processing in-process, 100 challenges, batch {settings.LOYALTY_EVENT_BATCH_SIZE}", single
    )

    if connection.vendor == "postgresql" and settings.CELERY_BROKER_URL.startswith("redis"):
        two_workers(members, rows_prefix="w")

    # Evaluation cost: 10 vs 100 vs 1,000 active challenges, on the same 2,000 events.
    costs = {}
    for count in (10, 100, 1000):
        Challenge.objects.update(status="paused")
        challenges(count, start, prefix="eval")
        with transaction.atomic():
            events_ingest(source_key=f"eval-{count}", items=events(members, 2000, f"x{count}"))
        active_rules()  # compile (cached per version) before timing
        with transaction.atomic():
            claimed = _claim(2000)
            batch = Batch(claimed, now=start)
            batch.load()
            facts = [batch.facts(e) for e in claimed]
            from challenges import evaluator

            started = time.perf_counter()
            for event, fact in zip(claimed, facts, strict=True):
                evaluator.evaluate(
                    fact,
                    member_id=event.member_id,
                    rules=batch.index.get("app_open", ()),
                    state=batch.state,
                    explain=False,
                )
            costs[count] = (time.perf_counter() - started) / len(claimed)
            transaction.set_rollback(True)
        Event.objects.filter(source_key=f"eval-{count}").delete()
        print(f"evaluation with {count:>5} active challenges: {costs[count] * 1e6:8.1f} us/event")
    print(f"cost ratio 1,000 vs 10 challenges: {costs[1000] / costs[10]:.1f}x")


def two_workers(members, rows_prefix):
    """Two real worker processes draining N events, against a no-op task round trip."""
    from celery import current_app
    from django.db import transaction

    from challenges.intake import events_ingest
    from challenges.models import Event
    from challenges.tasks import process_pending_events_task

    db = connection.settings_dict
    url = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"
    queue = f"bench-{os.getpid()}"
    env = {**os.environ, "DATABASE_URL": url, "CELERY_BROKER_URL": settings.CELERY_BROKER_URL}
    command = [sys.executable, "-m", "celery", "-A", "loyalty", "worker", "--pool=solo"]
    procs = [
        subprocess.Popen(  # noqa: S603
            [
                *command,
                f"--queues={queue}",
                f"--hostname=bench{n}-{os.getpid()}@bench",
                "--without-mingle",
                "--without-gossip",
                "--loglevel=WARNING",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for n in range(2)
    ]
    try:
        deadline = time.monotonic() + 60
        while len(current_app.control.ping(timeout=0.5) or []) < 2 and time.monotonic() < deadline:
            time.sleep(0.5)
        # Baseline: a bare task through the same broker and workers, counted by the workers.
        from loyalty.tasks import noop_task

        nodes = [f"bench{n}-{os.getpid()}@bench" for n in range(2)]

        def noops_done():
            stats = current_app.control.inspect(destination=nodes, timeout=1.0).stats() or {}
            return sum(s.get("total", {}).get("loyalty.tasks.noop_task", 0) for s in stats.values())

        started = time.perf_counter()
        for _ in range(2000):
            noop_task.apply_async(queue=queue)
        while noops_done() < 2000:
            time.sleep(0.1)
        baseline = 2000 / (time.perf_counter() - started)
        line("bare no-op Celery task, 2 workers", baseline)

        rows = events(members, N, rows_prefix)
        for i in range(0, N, 1000):
            with transaction.atomic():
                events_ingest(source_key="workers", items=rows[i : i + 1000])
        started = time.perf_counter()
        for _ in range(4):
            process_pending_events_task.apply_async(queue=queue)
        while Event.objects.filter(status="pending").exists():
            time.sleep(0.05)
        line(
            "processing by 2 Celery workers, 100 challenges",
            N / (time.perf_counter() - started),
            baseline,
        )
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=30)


if __name__ == "__main__":
    main()
