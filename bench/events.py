"""Challenge engine throughput on a throwaway test database.

    make bench-events                                   # SQLite, in-process
    DATABASE_URL=postgres://... REDIS_URL=redis://... make bench-events   # + 2 real workers

Prints, each beside its baseline and as a ratio:
- batch intake (events_ingest, 1,000 per call) against a bare bulk INSERT of the same rows;
- processing in one process (claim, load, evaluate against 100 active challenges, write
  awards and ledger, mark processed) in events per second;
- with PostgreSQL and a broker: the same with two real Celery worker processes, against a
  bare no-op Celery task round trip;
- evaluation cost per event with 10, 100 and 1,000 active challenges (pure evaluator time,
  the worker's way: the rule index picks the candidate rules), for two spreads of rules: a
  programme of campaigns (a few broad challenges, the rest each for its own event code) and
  an unselective worst case (a tenth of the challenges match every event).
"""

import os
import time

from _support import (  # noqa: E402 - sets Django up
    celery_workers,
    line,
    real_workers_possible,
    throwaway_database,
)
from django.conf import settings
from django.db import connection

N = int(os.environ.get("BENCH_EVENTS", "20000"))
MEMBERS = int(os.environ.get("BENCH_MEMBERS", "2000"))


def main():
    with throwaway_database():
        run()


def challenges(count, start, prefix="bench", trigger="app_open", condition=None):
    """`count` active challenges as a marketer would set them up (see BROAD for the default
    spread: each for its own campaign month, a tenth matching every app open)."""
    from challenges.services import challenge_create

    condition = condition or narrow_or_broad
    for n in range(count):
        challenge_create(
            code=f"{prefix}-{count}-{n}",
            definition={
                "name": f"Bench {n}",
                "triggers": [trigger],
                "conditions": condition(n),
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
    from challenges.models import Event, EventType
    from challenges.processing import events_process_pending
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
    line("bulk INSERT of event rows (1,000 per statement)", baseline, is_baseline=True)

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

    if real_workers_possible():
        two_workers(members, rows_prefix="w")

    # Evaluation cost: 10 vs 100 vs 1,000 active challenges, on the same 2,000 events.
    for mix in (CAMPAIGNS, BROAD):
        costs = {}
        for count in (10, 100, 1000):
            costs[count] = evaluation_cost(mix, count, members, start)
            print(
                f"evaluation, {count:>5} active challenges ({mix.name}): "
                f"{costs[count] * 1e6:8.1f} us/event"
            )
        print(f"cost ratio 1,000 vs 10 challenges ({mix.name}): {costs[1000] / costs[10]:.1f}x")


class Mix:
    """A way a programme's challenges are spread over its events, for the evaluation bench."""

    def __init__(self, name, trigger, condition, payload):
        self.name, self.trigger = name, trigger
        self.condition = condition  # n -> the condition of challenge n
        self.payload = payload  # i -> the payload of event i


# A large programme: a few broad challenges on every event of a kind, the rest each for its
# own campaign (an event code here; a SKU, a staff member or a store likewise), some further
# narrowed to a tier or gender. Each event concerns the broad ones and about one campaign.
BROAD_RULES = 5
CAMPAIGNS = Mix(
    "5 broad + campaigns",
    "event_attendance",
    lambda n: (
        {"field": "time.hour", "op": "between", "value": [8, 20]}
        if n < BROAD_RULES
        else {
            "all": [
                {"field": "event.payload.event_code", "op": "eq", "value": f"EV-{n}"},
                *([{"field": "member.gender", "op": "eq", "value": "female"}] if n % 2 else []),
            ]
        }
    ),
    lambda i: {"event_code": f"EV-{i % 1000}"},
)
# The unselective worst case: a tenth of the challenges match every event, the rest filter on
# the month (an indexable leaf, but one that a twelfth of all challenges share).
BROAD = Mix("a tenth broad", "app_open", lambda n: narrow_or_broad(n), lambda i: {})


def narrow_or_broad(n):
    if n % 10 == 0:
        return {
            "all": [
                {"field": "time.hour", "op": "between", "value": [8, 20]},
                {"field": "time.weekday", "op": "in", "value": ["mon", "tue", "wed", "thu"]},
            ]
        }
    return {
        "all": [
            {"field": "time.month", "op": "eq", "value": 1 + n % 12},
            {"field": "member.gender", "op": "eq", "value": "female"},
            {"field": "counter.events_this_month", "op": "lt", "value": 100},
        ]
    }


def evaluation_cost(mix, count, members, start):
    """Seconds of pure evaluation per event (the worker's way: rule index, explain off)."""
    from django.db import transaction

    from challenges import evaluator
    from challenges.intake import events_ingest
    from challenges.models import Challenge, Event
    from challenges.processing import Batch, _claim, active_rules

    Challenge.objects.update(status="paused")
    challenges(
        count, start, prefix=f"eval-{mix.trigger}", trigger=mix.trigger, condition=mix.condition
    )
    source = f"eval-{mix.trigger}-{count}"
    rows = [
        {**row, "type": mix.trigger, "payload": mix.payload(i)}
        for i, row in enumerate(events(members, 2000, source))
    ]
    with transaction.atomic():
        events_ingest(source_key=source, items=rows)
    active_rules()  # compile (cached per version) before timing
    with transaction.atomic():
        claimed = _claim(2000)
        batch = Batch(claimed, now=start)
        batch.load()
        facts = [batch.facts(e) for e in claimed]
        started = time.perf_counter()
        for event, fact in zip(claimed, facts, strict=True):
            evaluator.evaluate(
                fact,
                member_id=event.member_id,
                rules=batch.index.candidates(fact),
                state=batch.state,
                explain=False,
            )
        cost = (time.perf_counter() - started) / len(claimed)
        transaction.set_rollback(True)
    Event.objects.filter(source_key=source).delete()
    return cost


def two_workers(members, rows_prefix):
    """Two real worker processes draining N events, against a no-op task round trip."""
    from django.db import transaction

    from challenges.intake import events_ingest
    from challenges.models import Event
    from challenges.tasks import process_pending_events_task

    with celery_workers(2) as workers:
        baseline = workers.noop_baseline()
        line("bare no-op Celery task, 2 workers", baseline, is_baseline=True)

        rows = events(members, N, rows_prefix)
        for i in range(0, N, 1000):
            with transaction.atomic():
                events_ingest(source_key="workers", items=rows[i : i + 1000])
        started = time.perf_counter()
        for _ in range(4):
            process_pending_events_task.apply_async(queue=workers.queue)
        while Event.objects.filter(status="pending").exists():
            time.sleep(0.05)
        line(
            "processing by 2 Celery workers, 100 challenges",
            N / (time.perf_counter() - started),
            baseline,
        )


if __name__ == "__main__":
    main()
