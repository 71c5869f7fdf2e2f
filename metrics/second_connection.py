"""Running independent statements on a second database connection, on the second core.

PostgreSQL runs one statement on one core (its parallel workers serve a few scan, join and
sort plans, and never an INSERT ... SELECT in PostgreSQL 15). Rebuilding the KPI member
state (metrics.member_state) is two chains of work that need nothing from each other until
the end: measured at a million members, the active spans and the churn bases read from
them (about 25 s) need only the books, as do the state rows (about 25 s); a night's touched
members' channel facts and spans are two more such pieces. `alongside` runs one piece of
work on a connection of its own in a thread while the caller goes on (nest it for two).

The second connection sees only what is committed: the work must read nothing the calling
transaction wrote, and may run alongside only when the caller had nothing uncommitted
before its own transaction began (`can_run_alongside`). Its results travel through a
committed tables that the caller reads and drops.
"""

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

from django.db import DEFAULT_DB_ALIAS, connection, connections

T = TypeVar("T")


def can_run_alongside() -> bool:
    """PostgreSQL, and no transaction open on this connection: everything it wrote is
    committed, so a second connection reads the same books. (Inside a transaction, and so
    inside a test's, the work runs on this connection instead.)"""
    return connection.vendor == "postgresql" and not connection.in_atomic_block


@contextmanager
def alongside(work: Callable[[], T], *, concurrent: bool) -> Iterator[Callable[[], T]]:
    """Run `work` while the block runs and give the block a function returning its result
    (raising what it raised). `concurrent`: on a second connection in a thread, started
    now; the connection's execute wrappers are this one's (a benchmark's recorder sees its
    statements too), and it is closed when the work ends. Otherwise `work` runs on this
    connection when the block first asks for the result. The block's exit waits for the
    work either way, so nothing runs on after it."""
    if not concurrent:
        done: list[T] = []

        def inline() -> T:
            if not done:
                done.append(work())
            return done[0]

        yield inline
        return
    wrappers = list(connection.execute_wrappers)

    def on_own_connection() -> T:
        own = connections[DEFAULT_DB_ALIAS]  # this thread's, not the caller's
        own.execute_wrappers[:] = wrappers
        try:
            return work()
        finally:
            own.close()

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="kpi-alongside") as pool:
        future = pool.submit(on_own_connection)
        yield future.result
