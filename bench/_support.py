"""What the benchmarks share: Django on a throwaway test database, result lines beside a
baseline, and real Celery worker processes with the bare no-op task baseline.

Import it first in a bench script (it sets up Django):

    from _support import ROOT, celery_workers, line, throwaway_database  # noqa: E402
"""

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "loyalty.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402


@contextmanager
def throwaway_database() -> Iterator[None]:
    """A fresh test database (migrated) for the block, destroyed afterwards: the bench never
    touches the configured database."""
    setup_test_environment()
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        yield
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)


def line(
    label: str, per_s: float, baseline: float | None = None, *, is_baseline: bool = False
) -> None:
    """One result: with `baseline`, also the ratio to it; a baseline says so."""
    ratio = f"{per_s / baseline:5.2f}x baseline" if baseline else ""
    print(f"{label:<58} {per_s:9.0f} events/s  {'baseline' if is_baseline else ratio}".rstrip())


def real_workers_possible() -> bool:
    """Worker processes need a database they can share (PostgreSQL) and a broker."""
    return connection.vendor == "postgresql" and settings.CELERY_BROKER_URL.startswith("redis")


def database_url(name: str | None = None) -> str:
    """DATABASE_URL of the current PostgreSQL database (or of `name` on the same server)."""
    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    host = f"{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"
    return f"postgres://{db['USER']}{password}@{host}/{name or db['NAME']}"


@dataclass(frozen=True)
class Workers:
    queue: str
    nodes: list[str]

    def noop_baseline(self, n: int = 2000) -> float:
        """Bare no-op tasks per second through the same broker and workers, counted by the
        workers themselves (the round-trip cost any task pays)."""
        from celery import current_app

        from loyalty.tasks import noop_task

        def done() -> int:
            stats = current_app.control.inspect(destination=self.nodes, timeout=1.0).stats()
            return sum(
                s.get("total", {}).get("loyalty.tasks.noop_task", 0) for s in (stats or {}).values()
            )

        already = done()
        started = time.perf_counter()
        for _ in range(n):
            noop_task.apply_async(queue=self.queue)
        while done() < already + n:
            time.sleep(0.1)
        return n / (time.perf_counter() - started)


@contextmanager
def celery_workers(count: int = 2, *, db_url: str | None = None) -> Iterator[Workers]:
    """`count` real worker processes (solo pool) on a queue of their own, on the current
    database (or `db_url`), stopped when the block ends."""
    from celery import current_app

    queue = f"bench-{os.getpid()}"
    nodes = [f"bench{n}-{os.getpid()}@bench" for n in range(count)]
    env = {
        **os.environ,
        "DATABASE_URL": db_url or database_url(),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
    }
    command = [sys.executable, "-m", "celery", "-A", "loyalty", "worker", "--pool=solo"]
    procs = [
        subprocess.Popen(  # noqa: S603
            [
                *command,
                f"--queues={queue}",
                f"--hostname={node}",
                "--without-mingle",
                "--without-gossip",
                "--loglevel=WARNING",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for node in nodes
    ]
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            answered = current_app.control.ping(destination=nodes, timeout=0.5) or []
            if len(answered) >= count:
                break
            time.sleep(0.5)
        else:
            raise RuntimeError(f"the {count} bench workers did not answer within 60 s")
        yield Workers(queue=queue, nodes=nodes)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=30)
