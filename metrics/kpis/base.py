"""What a KPI calculator is, and the registry the snapshot runner and the dashboard read.

A calculator aggregates in the database (ORM aggregates or SQL: never a Python loop over
members, purchases or ledger rows) and returns one `Value` per segment it can slice; the final
arithmetic on the aggregated counts is done by the pure functions of `metrics.formulas`.
"""

import datetime as dt
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any


@dataclass(frozen=True, slots=True)
class Window:
    """One period of one kind, in programme-local dates: [start, end).

    `cutoff` is the (exclusive) end of the data a run may use: the run's today. A period
    that has not finished yet (the current week, month, quarter) is measured up to it, so
    a stock such as active members or points outstanding is "as of the cutoff" rather than
    at a future end, and its value moves each night until the period closes.
    """

    period: str  # day | week | month | quarter
    start: dt.date
    end: dt.date  # exclusive
    cutoff: dt.date | None = None  # exclusive; None: everything up to `end` is known

    @property
    def last_day(self) -> dt.date:
        return self.end - dt.timedelta(days=1)

    @property
    def as_of(self) -> dt.date:
        """Exclusive end of what is measured: `end`, or the cutoff inside an unfinished
        period (never before `start`)."""
        if self.cutoff is None or self.cutoff >= self.end:
            return self.end
        return max(self.cutoff, self.start)

    @property
    def finished(self) -> bool:
        return self.as_of == self.end


@dataclass(frozen=True, slots=True)
class Value:
    segment: str  # "all" or "<dimension>:<value>"
    value: Decimal | None  # None: undefined (no buyers, no answers)
    numerator: Decimal | None = None
    denominator: Decimal | None = None
    n: int = 0  # sample size
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Kpi:
    code: str  # e.g. "churn_rate"; the snapshot's `kpi`
    label: str  # shown on the dashboard (translated there)
    unit: str  # percent | yen | count | points | score | years | per_year
    compute: Callable[[Window], list[Value]]
    higher_is_better: bool = True
    group: str = "behaviour"  # behaviour | points | survey | challenges
    # The dimensions it can be sliced by (see metrics.kpis.segments.DIMENSIONS).
    dimensions: tuple[str, ...] = ()
    min_reliable_n: int = 0  # below this sample size the dashboard flags the value
    # Depends only on the window's `as_of` (a stock such as active members, or a trailing
    # window ending there): the runner computes it once per as_of date and reuses the values
    # for every window measured at that date (the nightly day, week, month and quarter).
    point_in_time: bool = False
    # Looks this many days past the window's end (challenge completers' repeat purchases):
    # the nightly run also recomputes the windows containing the day this many days before
    # yesterday, so each window is recomputed until its follow-up is complete.
    follow_up_days: int = 0


REGISTRY: dict[str, Kpi] = {}


def register(kpi: Kpi) -> Kpi:
    if kpi.code in REGISTRY:
        raise ValueError(f"KPI {kpi.code!r} is registered twice")
    REGISTRY[kpi.code] = kpi
    return kpi


# Intermediate results several calculators need (the same challenge awards, the same trailing
# year of purchases), computed once per run step: see `shared`.
_SHARED: ContextVar[dict | None] = ContextVar("kpi_shared", default=None)


def shared(key: tuple, compute: Callable[[], Any]) -> Any:
    """`compute()`, computed once per `key` while `sharing()` is active (the snapshot runner
    opens it around each step); outside it, simply `compute()`. Keys name what is computed
    and every input it depends on (e.g. ("churn", start, end))."""
    memo = _SHARED.get()
    if memo is None:
        return compute()
    if key not in memo:
        memo[key] = compute()
    return memo[key]


def is_sharing() -> bool:
    return _SHARED.get() is not None


_CLEANUP = "cleanup"  # the memo's list of callables run when the sharing block ends
_STEP = "step_windows"


def note_step_windows(windows: Iterable[Window]) -> None:
    """Tell the calculators of the active sharing block which windows it computes, so one
    statement can serve several of them (churn of the windows measured at one date)."""
    _SHARED.get()[(_STEP,)] = tuple(windows)


def step_windows() -> tuple[Window, ...]:
    memo = _SHARED.get()
    return () if memo is None else memo.get((_STEP,), ())


def on_sharing_exit(cleanup: Callable[[], None]) -> None:
    """Run `cleanup()` when the active sharing block ends (e.g. drop a temporary table)."""
    _SHARED.get().setdefault((_CLEANUP,), []).append(cleanup)


@contextmanager
def sharing() -> Iterator[None]:
    """Share intermediate results between the calculators run inside (nested: the outer
    block's)."""
    if _SHARED.get() is not None:
        yield
        return
    memo: dict = {}
    token = _SHARED.set(memo)
    try:
        yield
    except BaseException:
        _SHARED.reset(token)
        # The block's own error is the one to report (a cleanup in an aborted transaction
        # would fail too); the temporary tables go with the connection anyway.
        with suppress(Exception):
            _clean_up(memo)
        raise
    _SHARED.reset(token)
    _clean_up(memo)


def _clean_up(memo: dict) -> None:
    for cleanup in memo.get((_CLEANUP,), []):
        cleanup()
