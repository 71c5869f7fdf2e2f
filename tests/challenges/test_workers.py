"""The challenge engine with real Celery worker processes on PostgreSQL + Redis (CI).

Events come in through the API; the doorbell task is sent through Redis to two worker
processes that consume this module's own queue. What must hold: every preset pays exactly
what it should, every event is applied once even when sent twice and a worker is killed
with SIGKILL mid-run, and two workers racing on one budget never overspend it.
"""

import datetime as dt
import os
import signal
import time

import pytest
from django.db.models import Sum

from challenges.builtin_types import event_types_ensure_builtin
from challenges.models import Award, ChallengeCounter, Event, Verification
from challenges.models.events import WeatherObservation
from challenges.scheduled import scheduled_events_create
from challenges.services import challenge_create
from challenges.tasks import process_pending_events_task
from challenges.verification import verification_decide
from loyalty.ledger import ledger_sums
from loyalty.models import LedgerEntry
from members.models import Member
from tests.challenges.support import (
    JST,
    START,
    challenge_points,
    event,
    integration,
    preset,
)
from tests.members.factories import MemberFactory, StaffFactory, StoreFactory, UserFactory
from tests.workers import (
    delete_queue,
    new_queue,
    require_real_workers,
    start_worker,
    stop,
    wait_until,
)

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

DONE_TIMEOUT = 90


@pytest.fixture
def workers(django_db_setup, tmp_path):
    """Two worker processes on one queue; small batches so a run spans many transactions."""
    require_real_workers()
    event_types_ensure_builtin()  # an earlier transactional test's flush removed them
    queue = new_queue()
    started = []
    try:
        for n in range(2):
            started.append(
                start_worker(
                    queue, tmp_path / f"worker{n}.log", env={"LOYALTY_EVENT_BATCH_SIZE": "25"}
                )
            )
        yield started
    finally:
        for worker in started:
            stop(worker.process)
        delete_queue(queue)


def ring(workers, times=1):
    """What the API's on-commit hook and beat do: send the processing task through Redis."""
    for _ in range(times):
        process_pending_events_task.apply_async(queue=workers[0].queue)


def wait_processed(workers, expected: int):
    alive = [w for w in workers if w.process.poll() is None]
    wait_until(
        lambda: (
            Event.objects.filter(status="processed").count() == expected
            and not Event.objects.filter(status="pending").exists()
        ),
        timeout=DONE_TIMEOUT,
        what=f"{expected} processed events",
        worker=alive[0],
    )


def assert_no_drift(members):
    sums = ledger_sums([m.pk for m in members])
    for member in Member.objects.filter(pk__in=[m.pk for m in members]):
        assert sums.get(member.pk, {}).get("points_available", 0) == member.points_available
        assert sums.get(member.pk, {}).get("points_pending", 0) == member.points_pending


def test_every_preset_end_to_end_through_the_api_and_two_workers(workers):
    store = StoreFactory(code="TKY01")
    StaffFactory(code="AMB-1", store=store)
    WeatherObservation.objects.create(store=store, date="2026-06-05", condition="rain")
    preset("first_purchase_of_product", sku="MATCHA", points=100)
    preset("staff_ambassador", staff_code="AMB-1", points=50)
    preset("sns_follow", platform="instagram", account="@tea", points=70)
    preset("survey_answered", survey="nps", points=30)
    preset("event_attendance", event_code="CEREMONY", points=200)
    preset("rainy_day_visit", points=20)
    preset("visit_three_times_a_month", visits=3, points=150)
    preset("birthday_double_points", factor=2)
    preset("birthday_gift", points=500)
    preset("membership_anniversary", points=300)
    preset("win_back", days=60, points=40)
    member = MemberFactory(
        birth_date=dt.date(1990, 6, 1), joined_at=dt.datetime(2024, 8, 18, 10, 0, tzinfo=JST)
    )
    pos = integration("events:write")
    purchase = {
        "order_id": "O-1",
        "member_number": member.member_number,
        "occurred_at": "2026-06-05T10:00:00+09:00",
        "store_code": "TKY01",
        "staff_code": "AMB-1",
        "total": 1200,
        "lines": [{"sku": "MATCHA", "quantity": 2, "unit_price": 600}],
    }
    assert pos.post("/api/v1/purchases", purchase, format="json").status_code == 201
    batch = [
        event("F-1", member, "sns_follow", payload={"platform": "instagram", "account": "@tea"}),
        event("S-1", member, "survey_answered", payload={"survey": "nps"}),
        event("A-1", member, "event_attendance", payload={"event_code": "CEREMONY"}),
        event("V-1", member, "visit", store_code="TKY01", when="2026-06-05T09:00:00+09:00"),
        event("V-2", member, "visit", store_code="TKY01", when="2026-06-12T09:00:00+09:00"),
        event("V-3", member, "visit", store_code="TKY01", when="2026-06-19T09:00:00+09:00"),
    ]
    response = pos.post("/api/v1/events", {"events": batch}, format="json")
    assert response.json()["accepted"] == 6
    ring(workers)
    wait_processed(workers, 7)

    approver = UserFactory(username="door", is_staff=True)
    for verification in Verification.objects.order_by("pk"):
        verification_decide(verification=verification, approve=True, note="checked", user=approver)

    # The nightly job: the birthday, then the second anniversary, 60 days after the last visit.
    assert scheduled_events_create(day=dt.date(2026, 6, 1))["birthday"] == 1
    assert scheduled_events_create(day=dt.date(2026, 8, 18)) == {
        "birthday": 0,
        "anniversary": 1,
        "win_back": 1,
    }
    ring(workers)
    wait_processed(workers, 10)

    assert sorted(challenge_points(member)) == sorted(
        [
            ("First purchase of MATCHA", 100),
            ("Served by AMB-1", 50),
            ("Birthday month double points", 12),  # base floor(1,200 / 100) = 12, doubled
            ("Answer the survey nps", 30),
            ("Rainy day visit", 20),
            ("Visit 3 times this month", 150),
            ("Follow us on instagram", 70),
            ("Join us at CEREMONY", 200),
            ("Birthday gift", 500),
            ("Membership anniversary", 300),
            ("We miss you (60 days)", 40),
        ]
    )
    member.refresh_from_db()
    assert member.points_available == 12 + 100 + 50 + 12 + 30 + 20 + 150 + 70 + 200 + 840
    assert_no_drift([member])


def test_each_event_twice_and_a_worker_killed_mid_run_leave_the_exact_ledger(workers):
    challenge_create(
        code="open",
        definition={
            "name": "App open",
            "triggers": ["app_open"],
            "effects": [{"type": "points", "points": 10}],
            "starts_at": START,
        },
        status="active",
    )
    members = [MemberFactory() for _ in range(40)]
    pos = integration("events:write")
    batch = [
        event(f"E-{m.pk}-{n}", m, "app_open", when=f"2026-06-{n + 1:02d}T10:00:00+09:00")
        for m in members
        for n in range(25)
    ]
    for start in range(0, len(batch), 500):
        assert pos.post(
            "/api/v1/events", {"events": batch[start : start + 500]}, format="json"
        ).json()["accepted"] == len(batch[start : start + 500])
    ring(workers, times=4)
    victim = workers[0]
    deadline = time.monotonic() + DONE_TIMEOUT
    while Event.objects.filter(status="processed").count() == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    os.kill(victim.process.pid, signal.SIGKILL)  # no warm shutdown: the open batch is lost
    victim.process.wait(timeout=10)

    # Every event again: all duplicates, nothing new stored.
    for start in range(0, len(batch), 500):
        answer = pos.post(
            "/api/v1/events", {"events": batch[start : start + 500]}, format="json"
        ).json()
        assert (answer["accepted"], answer["duplicates"]) == (0, len(batch[start : start + 500]))
    ring(workers, times=2)  # beat's minute re-enqueue, sent at once
    wait_processed(workers, 1000)

    assert Award.objects.count() == 1000
    assert LedgerEntry.objects.filter(source="challenge").count() == 1000
    assert LedgerEntry.objects.filter(source="challenge").aggregate(s=Sum("points"))["s"] == 10_000
    for member in Member.objects.filter(pk__in=[m.pk for m in members]):
        assert member.points_available == 250
    assert_no_drift(members)
    assert ChallengeCounter.objects.get(challenge__code="open").points_granted == 10_000


def test_two_workers_never_overspend_a_budget_or_a_limit(workers):
    challenge_create(
        code="budget",
        definition={
            "name": "Budgeted",
            "triggers": ["app_open"],
            "effects": [{"type": "points", "points": 7}],
            "starts_at": START,
            "budget": {"points": 500},
            "limit": {"count": 3, "period": "campaign"},
        },
        status="active",
    )
    members = [MemberFactory() for _ in range(60)]
    pos = integration("events:write")
    batch = [
        event(f"E-{m.pk}-{n}", m, "app_open", when=f"2026-06-{n + 1:02d}T10:00:00+09:00")
        for m in members
        for n in range(5)
    ]
    pos.post("/api/v1/events", {"events": batch}, format="json")
    ring(workers, times=6)
    wait_processed(workers, 300)

    counter = ChallengeCounter.objects.get(challenge__code="budget")
    # floor(500 / 7) = 71 awards fit the budget; no member more than 3.
    assert (counter.points_granted, counter.awards) == (497, 71)
    assert LedgerEntry.objects.filter(source="challenge").count() == 71
    per_member = (
        Award.objects.values("member").annotate(n=Sum("points")).values_list("n", flat=True)
    )
    assert max(per_member) <= 21
    assert_no_drift(members)
