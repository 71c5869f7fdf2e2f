"""Computing KPI snapshots: windows, the upsert, resumable recompute runs and the nightly job
(docs/metrics.md, "Snapshots").

- `kpis_compute(window=...)` runs the registered calculators over one window and returns
  unsaved KpiSnapshot rows; `kpi_snapshots_write` upserts them on (kpi, segment, period,
  period_start) and removes the segments of those KPIs and windows that no longer have a
  value, so writing the same night twice leaves the same rows.
- `kpis_recompute(start=, end=)` walks every day, ISO week (Monday-Sunday), month and quarter
  overlapping [start, end], in steps by the window's last day (clipped to `end`): after each
  step its rows and the run's KpiFillState.done_through are committed together, so a run that
  is interrupted resumes after the last finished step when started again with the same name
  and range.
- `kpis_nightly(today=)` recomputes only the windows containing yesterday (a day, its week,
  month and quarter; for KPIs with a follow-up, also those containing the day that many days
  earlier), catching up missed nights (at most NIGHTLY_CATCH_UP_DAYS). The cost is that of
  those few windows, whatever the length of the history.

Every window is measured with the run's today as its cutoff: a period not over yet is
measured up to it (the current week, month and quarter move each night until they close).
"""

import datetime as dt
import hashlib
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import partial

from django.db import transaction
from django.utils import timezone

from .kpis.base import Kpi, Value, Window, note_step_windows, sharing
from .kpis.plans import kpi_plans
from .member_state import member_state_update
from .models import KpiFillState, KpiSnapshot, MemberStateMark
from .periods import PERIODS, period_end, period_floor, period_starts
from .second_connection import alongside, can_run_alongside

log = logging.getLogger(__name__)

NIGHTLY = "nightly"
NIGHTLY_CATCH_UP_DAYS = 7
EARLIEST_DAY = dt.date(2000, 1, 1)  # no recompute before (as the API's times)
UNIQUE_FIELDS = ["kpi", "segment", "period", "period_start"]
UPDATE_FIELDS = ["value", "numerator", "denominator", "n", "details", "computed_at"]

Progress = Callable[[int, int], None]  # (windows done, windows in the run)


class KpiRunError(ValueError):
    """A recompute asked for something it cannot do; `field` names the argument."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True, slots=True)
class RunResult:
    name: str
    start: dt.date | None  # the range walked (None: nothing to do)
    end: dt.date | None
    windows: int  # windows computed by this run
    rows: int  # snapshot rows written
    skipped: int  # windows an earlier, interrupted run of the same name had finished
    resumed_after: dt.date | None
    seconds: float


def registry() -> dict[str, Kpi]:
    from .selectors import kpi_registry

    return kpi_registry()


# --- Windows ---------------------------------------------------------------------------------


def window_containing(period: str, day: dt.date, *, cutoff: dt.date | None = None) -> Window:
    start = period_floor(period, day)
    return Window(period=period, start=start, end=period_end(period, start), cutoff=cutoff)


def windows_overlapping(
    start: dt.date, end: dt.date, *, cutoff: dt.date | None = None
) -> list[Window]:
    """Every day, week, month and quarter with a day in [start, end]."""
    return [
        Window(period=period, start=first, end=period_end(period, first), cutoff=cutoff)
        for period in PERIODS
        for first in period_starts(period, start, end)
    ]


# --- Computing and writing ---------------------------------------------------------------------


def _snapshot(code: str, window: Window, value: Value) -> KpiSnapshot:
    return KpiSnapshot(
        kpi=code,
        segment=value.segment,
        period=window.period,
        period_start=window.start,
        value=value.value,
        numerator=value.numerator,
        denominator=value.denominator,
        n=value.n,
        details=value.details,
    )


def kpis_compute(
    *,
    window: Window,
    kpis: Iterable[str] | None = None,
    cache: dict[tuple[str, dt.date], list[Value]] | None = None,
) -> list[KpiSnapshot]:
    """Unsaved snapshot rows of `kpis` (default: every registered KPI) for `window`. With a
    `cache`, a point-in-time KPI computed for another window with the same as_of date is
    reused rather than computed again."""
    known = registry()
    with sharing():
        return [
            _snapshot(code, window, value)
            for code in (known if kpis is None else kpis)
            for value in _values(known[code], window, cache)
        ]


def _values(kpi: Kpi, window: Window, cache: dict | None) -> list[Value]:
    key = (kpi.code, window.as_of)
    if kpi.point_in_time and cache is not None and key in cache:
        return cache[key]
    with kpi_plans():
        values = kpi.compute(window)
    if kpi.point_in_time and cache is not None:
        cache[key] = values
    return values


@transaction.atomic
def kpi_snapshots_write(
    *, rows: Sequence[KpiSnapshot], computed: Iterable[tuple[str, Window]] = ()
) -> int:
    """Upsert `rows`; for each (kpi, window) of `computed`, delete its snapshots whose
    segment is not among `rows` (a store that no longer has members). Returns rows written."""
    if rows:
        KpiSnapshot.objects.bulk_create(
            rows,
            update_conflicts=True,
            unique_fields=UNIQUE_FIELDS,
            update_fields=UPDATE_FIELDS,
            batch_size=500,
        )
    kept = {(r.kpi, r.period, r.period_start, r.segment) for r in rows}
    by_window: dict[tuple[str, dt.date], set[str]] = defaultdict(set)
    for code, window in computed:
        by_window[(window.period, window.start)].add(code)
    stale = []
    for (period, start), codes in by_window.items():
        existing = KpiSnapshot.objects.filter(
            period=period, period_start=start, kpi__in=codes
        ).values_list("pk", "kpi", "segment")
        stale += [pk for pk, kpi, seg in existing if (kpi, period, start, seg) not in kept]
    if stale:
        KpiSnapshot.objects.filter(pk__in=stale).delete()
    return len(rows)


# --- Runs ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Step:
    key: dt.date  # done_through after this step
    items: tuple[tuple[Window, tuple[str, ...]], ...]


def _steps(plan: dict[tuple[Window, str], dt.date]) -> list[_Step]:
    """Group (window, kpi) -> key into steps by key, windows in period order."""
    by_key: dict[dt.date, dict[Window, list[str]]] = defaultdict(lambda: defaultdict(list))
    for (window, code), key in plan.items():
        by_key[key][window].append(code)
    rank = {period: i for i, period in enumerate(PERIODS)}
    return [
        _Step(
            key=key,
            items=tuple(
                (window, tuple(codes))
                for window, codes in sorted(
                    by_key[key].items(), key=lambda item: (rank[item[0].period], item[0].start)
                )
            ),
        )
        for key in sorted(by_key)
    ]


Items = list[tuple[Window, tuple[str, ...]]]
Computed = tuple[list[KpiSnapshot], list[tuple[str, Window]]]
Early = Callable[[], dict[dt.date, Computed]]


def _compute_step(step: _Step, early: Early | None = None) -> Computed:
    """A step's snapshot rows, and the (kpi, window) pairs computed. With no transaction open
    on PostgreSQL, a second connection computes part of them meanwhile
    (metrics.second_connection): a run step is otherwise one statement at a time, on one
    core. `early`: a function giving the rows of the `_early` KPIs of every step, by step
    key, computed before (a night's, while it moved the member state)."""
    items = step.items if early is None else _lane(step.items, lambda kpi: not _early(kpi))
    if can_run_alongside():
        take = _taker(_units(items))
        with alongside(partial(_compute_units, take, items), concurrent=True) as their_part:
            parts = [_compute_units(take, items), their_part()]
    else:
        parts = [_compute_items(items)]
    if early is not None:
        parts.append(early()[step.key])
    return (
        [row for rows, _computed in parts for row in rows],
        [pair for _rows, computed in parts for pair in computed],
    )


def _lane(items: Items, chosen: Callable[[Kpi], bool]) -> Items:
    """The items' KPIs that are `chosen`, window by window."""
    known = registry()
    lane = [(window, tuple(c for c in codes if chosen(known[c]))) for window, codes in items]
    return [(window, codes) for window, codes in lane if codes]


def _units(items: Items) -> list[Items]:
    """The step's work in pieces either connection may take, in the order they are taken: a
    KPI over all its windows, with the KPIs that share intermediate results
    (metrics.kpis.base.shared) in one piece: the challenge KPIs that read the awards, the
    repeat comparison's two, and the survey KPIs. The repeat comparison goes first, one of
    the two long pieces (some 1.3 s of a night at a million members, LTV 1.7 s, the survey
    KPIs together 0.4-0.5 s, the rest reading the member state's totals in milliseconds),
    so the other connection takes the rest meanwhile. Taking the pieces as each connection
    comes free balances the two with no cost model to keep true: splitting by the tables
    read (the answers and awards on one, the rest on the other) left one connection 2 s
    longer."""
    known = registry()

    def piece(code: str) -> tuple[int, str]:
        kpi = known[code]
        if kpi.group == "challenges":
            return (0, "follow-up") if kpi.follow_up_days else (1, "challenges")
        if kpi.group == "survey":  # one statement per window for all of them
            return (1, "surveys")
        return (1, code)

    pieces: dict[tuple[int, str], Items] = {}
    for code in known:  # registry order
        for window, codes in items:
            if code in codes:
                pieces.setdefault(piece(code), []).append((window, (code,)))
    return [pieces[key] for key in sorted(pieces, key=lambda key: key[0])]


def _taker(units: list[Items]) -> Callable[[], Items | None]:
    """A function giving the next of `units` to whichever thread calls it, None at the end."""
    lock, queue = threading.Lock(), list(reversed(units))

    def take() -> Items | None:
        with lock:
            return queue.pop() if queue else None

    return take


def _early(kpi: Kpi) -> bool:
    """Computed by a night before it needs them, while the member state moves: the challenge
    KPIs without a follow-up read only the awards, coupons and challenges (no member
    dimensions, no state), and the state's last statements leave a core idle (about 4 s of
    a night's KPI time at a million members)."""
    return kpi.group == "challenges" and not kpi.follow_up_days


def _compute_early(steps: list[_Step]) -> dict[dt.date, Computed]:
    return {step.key: _compute_items(_lane(step.items, _early)) for step in steps}


def _compute_items(items: Items) -> Computed:
    return _compute_units(_taker([items]), items)


def _compute_units(take: Callable[[], Items | None], items: Items) -> Computed:
    """The rows of the units `take` gives until it gives None, on this connection: one block
    sharing intermediate results (and a cache of point-in-time values) for all of them.
    `items`: every window of the step, which calculators computing several windows in one
    statement read (note_step_windows)."""
    cache: dict = {}
    rows, computed = [], []
    with sharing():
        note_step_windows(window for window, _codes in items)
        while (unit := take()) is not None:
            for window, codes in unit:
                rows += kpis_compute(window=window, kpis=codes, cache=cache)
                computed += [(code, window) for code in codes]
    return rows, computed


def _run(
    *,
    name: str,
    start: dt.date,
    end: dt.date,
    steps: list[_Step],
    progress: Progress | None,
    early: Early | None = None,
) -> RunResult:
    began = time.monotonic()
    now = timezone.now()
    state = KpiFillState.objects.filter(name=name).first()
    resuming = (
        state is not None
        and state.finished_at is None
        and (state.range_start, state.range_end) == (start, end)
        and state.done_through is not None
    )
    if resuming:
        done_through = state.done_through
    else:
        done_through = None
        KpiFillState.objects.update_or_create(
            name=name,
            defaults={
                "range_start": start,
                "range_end": end,
                "done_through": None,
                "started_at": now,
                "finished_at": None,
            },
        )
    total = sum(len(step.items) for step in steps)
    skipped = sum(len(s.items) for s in steps if done_through and s.key <= done_through)
    windows, rows_written, done = 0, 0, skipped
    if progress:
        progress(done, total)
    for step in steps:
        if done_through and step.key <= done_through:
            continue
        # Compute outside the transaction (SQLite's write lock is not held while reading);
        # write the rows and move the marker in one.
        rows, computed = _compute_step(step, early)
        with transaction.atomic():
            locked = KpiFillState.objects.select_for_update().get(name=name)
            if locked.done_through is None or locked.done_through < step.key:
                rows_written += kpi_snapshots_write(rows=rows, computed=computed)
                locked.done_through = step.key
                locked.save(update_fields=["done_through"])
        windows += len(step.items)
        done += len(step.items)
        if progress:
            progress(done, total)
    KpiFillState.objects.filter(name=name).update(finished_at=timezone.now())
    return RunResult(
        name=name,
        start=start,
        end=end,
        windows=windows,
        rows=rows_written,
        skipped=skipped,
        resumed_after=done_through,
        seconds=time.monotonic() - began,
    )


def _check_kpis(kpis: Iterable[str] | None) -> tuple[str, ...]:
    known = registry()
    if kpis is None:
        return tuple(known)
    codes = tuple(dict.fromkeys(kpis))
    unknown = [code for code in codes if code not in known]
    if unknown:
        raise KpiRunError("kpis", f"unknown KPI {unknown[0]!r}; known: {', '.join(sorted(known))}")
    if not codes:
        raise KpiRunError("kpis", "name at least one KPI")
    return codes


def recompute_name(start: dt.date, end: dt.date, kpis: Sequence[str] | None = None) -> str:
    name = f"recompute:{start.isoformat()}:{end.isoformat()}"
    if kpis is not None:
        name += ":" + hashlib.sha256(",".join(sorted(kpis)).encode()).hexdigest()[:12]
    return name


def kpis_recompute(
    *,
    start: dt.date,
    end: dt.date,
    name: str | None = None,
    kpis: Iterable[str] | None = None,
    today: dt.date | None = None,
    progress: Progress | None = None,
) -> RunResult:
    """Recompute `kpis` (default: all) for every window overlapping [start, end]. A run of the
    same name and range that was interrupted resumes after its last finished step; a finished
    one starts over."""
    today = today or timezone.localdate()
    if start < EARLIEST_DAY:
        # As the API's times: no programme has data then (1999 wrote rows of zeros).
        raise KpiRunError("start", f"must not be before {EARLIEST_DAY.isoformat()}")
    if end < start:
        raise KpiRunError("end", f"must not be before the start ({start.isoformat()})")
    if end >= today:
        raise KpiRunError("end", f"must be before today ({today.isoformat()})")
    chosen = None if kpis is None else _check_kpis(kpis)
    codes = chosen or _check_kpis(None)
    mark = MemberStateMark.objects.first()
    if mark is not None and mark.as_of == today:
        # The windows measured at today read the member state: it first takes in what was
        # recorded since its night (the back-dated rows this recompute is likely for).
        member_state_update(today=today, refresh=True)
    plan = {
        (window, code): min(window.last_day, end)
        for window in windows_overlapping(start, end, cutoff=today)
        for code in codes
    }
    return _run(
        name=name or recompute_name(start, end, chosen),
        start=start,
        end=end,
        steps=_steps(plan),
        progress=progress,
    )


def kpis_nightly(*, today: dt.date | None = None, progress: Progress | None = None) -> RunResult:
    """Recompute the windows containing yesterday (and any night missed since the last run,
    up to NIGHTLY_CATCH_UP_DAYS). A night already done is not done again."""
    today = today or timezone.localdate()
    yesterday = today - dt.timedelta(days=1)
    oldest = yesterday - dt.timedelta(days=NIGHTLY_CATCH_UP_DAYS - 1)
    state = KpiFillState.objects.filter(name=NIGHTLY).first()
    if state is None:
        first = yesterday
    elif state.done_through is not None:
        first = state.done_through + dt.timedelta(days=1)
    else:  # the first run was interrupted before finishing a step
        first = state.range_start
    first = max(first, oldest)
    if first > yesterday:
        return RunResult(NIGHTLY, None, None, 0, 0, 0, None, 0.0)
    known = registry()
    plan: dict[tuple[Window, str], dt.date] = {}
    day = first
    while day <= yesterday:
        for code, kpi in known.items():
            looked_at = day - dt.timedelta(days=kpi.follow_up_days)
            for period in PERIODS:
                window = window_containing(period, looked_at, cutoff=today)
                plan[(window, code)] = max(plan.get((window, code), day), day)
        day += dt.timedelta(days=1)
    steps = _steps(plan)
    # The member state moves to today first: the windows measured at today read it. The
    # KPIs that read neither it nor the members are computed meanwhile, once its own work
    # on other connections is over (sharing two cores with it, they slowed it by as much).
    alone = threading.Event()

    def early_work() -> dict[dt.date, Computed]:
        alone.wait()
        return _compute_early(steps)

    with alongside(early_work, concurrent=can_run_alongside()) as early:
        try:
            member_state_update(today=today, alone=alone.set)
        finally:
            alone.set()
        result = _run(
            name=NIGHTLY, start=first, end=yesterday, steps=steps, progress=progress, early=early
        )
    log.info(
        "KPI snapshots %s..%s: %d windows, %d rows in %.1f s",
        first,
        yesterday,
        result.windows,
        result.rows,
        result.seconds,
    )
    return result
