"""Real Celery worker processes for tests: started against the test session's PostgreSQL
database and the configured broker, each on a queue of its own (so a developer's worker on
the same Redis cannot steal the messages), and always stopped, even when pytest is killed."""

import ctypes
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

from loyalty.celery import app

ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT = 60


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


def stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    process.terminate()  # warm shutdown: finish the current task, close connections
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def delete_queue(name: str) -> None:
    """Remove the test queue and its binding from Redis. Kombu deletes only bindings its
    channel knows, so declare the queue (as Celery made it: exchange and key = name) first."""
    with app.connection_for_write() as conn:
        queue = app.amqp.queues[name].bind(conn.default_channel)
        queue.declare()
        queue.delete()


def require_real_workers() -> None:
    if settings.CELERY_TASK_ALWAYS_EAGER:
        pytest.skip(
            "needs a broker for a real Celery worker: set REDIS_URL (CI does); "
            "without one tasks run in-process"
        )
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: the worker and the test share the database")


def new_queue() -> str:
    return f"loyalty-test-{uuid.uuid4().hex[:12]}"


def start_worker(queue: str, log: Path, *, env: dict | None = None) -> Worker:
    node = f"test-{uuid.uuid4().hex[:12]}@loyalty-tests"
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "loyalty.settings",
        "DATABASE_URL": session_database_url(),
        # The broker this process publishes to, whichever variable chose it.
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "PYTHONUNBUFFERED": "1",
        **(env or {}),
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
            env=environment,
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
    except BaseException:
        stop(process)
        raise
    return worker
