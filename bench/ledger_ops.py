"""Ledger write throughput against a baseline, on a throwaway test database.

    make bench                       # SQLite
    DATABASE_URL=postgres://... make bench

Prints operations per second for earning, spending (FIFO over several lots) and a purchase
with its base points, beside the baseline of a bare ORM insert of one ledger-sized row, and
the ratio of each to the baseline. Single process: it measures the cost of one operation's
locking, lot bookkeeping and balance update, not concurrency.

Then the challenge worker's batch balance write (loyalty.ledger._balances_save, one
statement for a batch's members) beside Django's bulk_update of the same four fields, per
batch of 500 members (the worker's default batch).
"""

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "loyalty.settings")

import django  # noqa: E402

django.setup()

from django.db import connection, transaction  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402
from django.utils import timezone  # noqa: E402

N = int(os.environ.get("BENCH_N", "2000"))


def rate(label, fn, n, baseline=None):
    started = time.perf_counter()
    for i in range(n):
        fn(i)
    seconds = time.perf_counter() - started
    per_s = n / seconds
    ratio = f"{per_s / baseline:5.2f}x baseline" if baseline else "baseline"
    print(f"{label:<42} {per_s:9.0f} ops/s  {seconds * 1e6 / n:8.0f} us/op  {ratio}")
    return per_s


def main():
    setup_test_environment()
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        run()
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)


def run():
    from loyalty.ledger import points_earn, points_spend
    from loyalty.models.ledger import EntrySource
    from loyalty.purchases import Line, purchase_record
    from members.models import Member, Store, Visit
    from members.numbers import generate_member_number

    print(f"database: {connection.vendor}, {N} operations each")
    members = Member.objects.bulk_create(
        Member(member_number=generate_member_number(), name=f"bench {i}") for i in range(N)
    )
    store = Store.objects.create(code="B1", name="Bench")
    now = timezone.now()

    def bare_insert(i):
        with transaction.atomic():
            Visit.objects.create(member=members[i], store=store, visited_at=now)

    baseline = rate("baseline: bare ORM insert in a transaction", bare_insert, N)

    def earn(i):
        points_earn(member=members[i], points=100, source=EntrySource.API)

    rate("points_earn (lock, entry, lot, balance)", earn, N, baseline)
    for i in range(N):  # four more lots each, so a spend walks several lots
        for _ in range(4):
            points_earn(member=members[i], points=10, source=EntrySource.API)

    def spend(i):
        points_spend(member=members[i], points=125, reference=f"B-{i}")

    rate("points_spend over 3 lots (FIFO movements)", spend, N, baseline)

    def purchase(i):
        purchase_record(
            member=members[i],
            order_reference=f"BENCH-{i}",
            total=3240,
            occurred_at=now,
            lines=[
                Line(sku="A", quantity=2, unit_price=1000),
                Line(sku="B", quantity=1, unit_price=1240),
            ],
        )

    rate("purchase_record (purchase, 2 lines, earn)", purchase, N, baseline)
    balances_write(Member)


def balances_write(member_model, batch=500, rounds=6):
    """ms per batch: bulk_update (baseline) and the worker's write, alternating."""
    from loyalty.ledger import _BALANCES, _balances_save

    def bulk_update(members):
        member_model.objects.bulk_update(members, list(_BALANCES))

    baseline = "bulk_update of 4 balances (baseline)"
    ways = {baseline: bulk_update, "_balances_save": _balances_save}
    seconds = dict.fromkeys(ways, 0.0)
    batches = min(N // batch, 4) or 1
    for _round in range(rounds):
        for label, write in ways.items():
            for b in range(batches):
                with transaction.atomic():
                    members = list(
                        member_model.objects.select_for_update().order_by("pk")[
                            b * batch : (b + 1) * batch
                        ]
                    )
                    for member in members:
                        member.points_available += 1
                        member.points_lifetime += 1
                    started = time.perf_counter()
                    write(members)
                    seconds[label] += time.perf_counter() - started
    runs = rounds * batches
    base = seconds[baseline] / runs
    for label, total in seconds.items():
        per = total / runs
        ratio = "baseline" if label == baseline else f"{base / per:5.1f}x faster"
        print(f"{label:<42} {per * 1000:9.1f} ms per {batch} members  {ratio}")


if __name__ == "__main__":
    main()
