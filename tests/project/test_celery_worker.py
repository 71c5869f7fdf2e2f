"""The production path end to end: a task sent through the broker (Redis) is run by a real
Celery worker process, which writes to the same PostgreSQL database the test reads.

Needs PostgreSQL (the postgres marker skips it on SQLite) and a broker (REDIS_URL or
CELERY_BROKER_URL); CI has both, so there it always runs. The worker consumes a queue of its
own, so a developer's worker on the same Redis cannot steal the messages (or run them against
another database), and it is always stopped, even when the test fails or pytest is killed.
"""

import datetime as dt

import pytest
from django.conf import settings
from django.utils import timezone

from loyalty.ledger import ledger_sums, points_earn
from loyalty.models import LedgerEntry
from loyalty.models.ledger import EntryKind, EntrySource
from loyalty.tasks import expire_points_task
from tests.members.factories import MemberFactory
from tests.workers import (
    delete_queue,
    new_queue,
    require_real_workers,
    start_worker,
    stop,
    wait_until,
)

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

EXPIRE_TASK = "loyalty.tasks.expire_points_task"
TASK_TIMEOUT = 30


@pytest.fixture(scope="module")
def celery_worker(django_db_setup, tmp_path_factory):
    require_real_workers()
    queue = new_queue()
    worker = start_worker(queue, tmp_path_factory.mktemp("celery-worker") / "worker.log")
    try:
        yield worker
    finally:
        stop(worker.process)
        delete_queue(queue)


def member_with_expired_lot(points: int):
    member = MemberFactory()
    earned = timezone.now() - dt.timedelta(days=400)
    points_earn(
        member=member,
        points=points,
        source=EntrySource.API,
        reason="earned long ago",
        now=earned,
        expires_at=earned + dt.timedelta(days=365),  # 35 days ago
    )
    member.refresh_from_db()
    assert member.points_available == points
    return member


def expire_entries(member) -> list[LedgerEntry]:
    return list(LedgerEntry.objects.filter(member=member, kind=EntryKind.EXPIRE))


def test_worker_process_runs_the_nightly_expiry_sent_through_redis(celery_worker):
    assert settings.CELERY_TASK_ALWAYS_EAGER is False  # .apply_async really publishes
    expired = member_with_expired_lot(120)
    keeps = MemberFactory()
    points_earn(member=keeps, points=50, source=EntrySource.API, reason="fresh")
    before = celery_worker.tasks_done(EXPIRE_TASK)

    # .delay() with the worker's queue: what beat sends, routed to this test's worker only.
    expire_points_task.apply_async(queue=celery_worker.queue)

    wait_until(
        lambda: bool(expire_entries(expired)),
        timeout=TASK_TIMEOUT,
        what="the worker to write an expire entry",
        worker=celery_worker,
    )
    expired.refresh_from_db()
    keeps.refresh_from_db()
    [entry] = expire_entries(expired)
    assert (entry.points, entry.source) == (-120, EntrySource.EXPIRY_JOB)
    assert expired.points_available == 0
    assert keeps.points_available == 50
    assert expire_entries(keeps) == []
    assert celery_worker.tasks_done(EXPIRE_TASK) == before + 1
    sums = ledger_sums([expired.pk, keeps.pk])
    assert sums[expired.pk]["points_available"] == 0
    assert sums[keeps.pk]["points_available"] == 50


def test_running_the_expiry_twice_expires_once(celery_worker):
    member = member_with_expired_lot(80)
    before = celery_worker.tasks_done(EXPIRE_TASK)

    expire_points_task.apply_async(queue=celery_worker.queue)
    expire_points_task.apply_async(queue=celery_worker.queue)

    wait_until(
        lambda: celery_worker.tasks_done(EXPIRE_TASK) == before + 2,
        timeout=TASK_TIMEOUT,
        what="the worker to run both tasks",
        worker=celery_worker,
    )
    member.refresh_from_db()
    [entry] = expire_entries(member)
    assert entry.points == -80
    assert member.points_available == 0
    assert ledger_sums([member.pk])[member.pk]["points_available"] == 0
