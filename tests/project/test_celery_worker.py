"""The production path end to end: a task sent through the broker (Redis) is run by a real
Celery worker process, which writes to the same PostgreSQL database the test reads.

Needs PostgreSQL (the postgres marker skips it on SQLite) and a broker (REDIS_URL or
CELERY_BROKER_URL); CI has both, so there it always runs. The worker consumes a queue of its
own, so a developer's worker on the same Redis cannot steal the messages (or run them against
another database), and it is always stopped, even when the test fails or pytest is killed.
"""

import ctypes
import datetime as dt
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from loyalty.celery import app
from loyalty.ledger import ledger_sums, points_earn
from loyalty.models import LedgerEntry
from loyalty.models.ledger import EntryKind, EntrySource
from loyalty.tasks import expire_points_task
from tests.members.factories import MemberFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
EXPIRE_TASK = "loyalty.tasks.expire_points_task"
START_TIMEOUT = 60
TASK_TIMEOUT = 30


@dataclass
class Worker:
    process: subprocess.Popen
    node: str
    queue: str
    log: Path

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def tasks_done(self, name: str) -> int:
        """How many `name` tasks this worker has run. With the solo pool the worker answers
        control messages only between tasks, so a counted task has finished."""
        stats = app.control.inspect(destination=[self.node], timeout=2.0).stats() or {}
        return stats.get(self.node, {}).get("total", {}).get(name, 0)


def wait_until(condition: Callable[[], bool], *, timeout: float, what: str, worker: Worker):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        assert worker.process.poll() is None, f"worker died:\n{worker.log_tail()}"
        time.sleep(0.2)
    pytest.fail(f"timed out after {timeout}s waiting for {what}; worker log:\n{worker.log_tail()}")


def session_database_url() -> str:
    """The URL of the database this test session really uses (test_<name>, not <name>)."""
    db = connection.settings_dict
    auth = quote(db["USER"] or "", safe="")
    if db["PASSWORD"]:
        auth += ":" + quote(db["PASSWORD"], safe="")
    netloc = quote(db["HOST"] or "", safe="")
    if db["PORT"]:
        netloc += f":{db['PORT']}"
    if auth:
        netloc = f"{auth}@{netloc}"
    return f"postgres://{netloc}/{quote(db['NAME'], safe='')}"


def _die_with_parent() -> None:
    """In the child before exec: Linux sends it SIGTERM if pytest dies without cleaning up."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    process.terminate()  # warm shutdown: finish the current task, close connections
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def _delete_queue(name: str) -> None:
    """Remove the test queue and its binding from Redis. Kombu deletes only bindings its
    channel knows, so declare the queue (as Celery made it: exchange and key = name) first."""
    with app.connection_for_write() as conn:
        queue = app.amqp.queues[name].bind(conn.default_channel)
        queue.declare()
        queue.delete()


@pytest.fixture(scope="module")
def celery_worker(django_db_setup, tmp_path_factory):
    if settings.CELERY_TASK_ALWAYS_EAGER:
        pytest.skip(
            "needs a broker for a real Celery worker: set REDIS_URL (CI does); "
            "without one tasks run in-process"
        )
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: the worker and the test share the database")
    suffix = uuid.uuid4().hex[:12]
    node = f"test-{suffix}@loyalty-tests"
    queue = f"loyalty-test-{suffix}"
    log = tmp_path_factory.mktemp("celery-worker") / "worker.log"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "loyalty.settings",
        "DATABASE_URL": session_database_url(),
        # The broker this process publishes to, whichever variable chose it.
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "PYTHONUNBUFFERED": "1",
    }
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "loyalty",
        "worker",
        "--pool=solo",
        "--concurrency=1",
        f"--queues={queue}",
        f"--hostname={node}",
        "--without-mingle",
        "--without-gossip",
        "--without-heartbeat",
        "--loglevel=INFO",
    ]
    with log.open("wb") as out:
        process = subprocess.Popen(  # noqa: S603 (our interpreter, fixed arguments)
            command,
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
    worker = Worker(process=process, node=node, queue=queue, log=log)
    try:
        wait_until(
            lambda: bool(app.control.ping(destination=[node], timeout=1.0)),
            timeout=START_TIMEOUT,
            what=f"worker {node} to answer ping",
            worker=worker,
        )
        yield worker
    finally:
        _stop(process)
        _delete_queue(queue)


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
