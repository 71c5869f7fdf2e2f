"""Keeping the member state's totals (docs/metrics.md, "Member state"): MemberStateTotals,
MemberChannelTotals and MemberPeriodBaseTotals hold the state rows' KPI facts
(metrics.kpis.state.member_facts, channel_facts, base_facts) summed per segment ("all" and
each dimension's values, as the snapshots name them), at the state's cutoff.

An update from cutoff T0 to T moves them by the touched members alone:
1. before their rows change, their facts as at T0 are subtracted;
2. the periods that rolled over between T0 and T are moved on for every other member: an
   untouched row's current-period purchases, buyers, joiners, expired points (and month's
   buyers of any kind) belong to
   the period that ended, so they count as none, and its churn base is its activity (a row
   untouched since before the new start describes the member at the start); the kept
   bases of ended periods go;
3. after their rows are replaced, their facts as at T are added;
4. the rows of a segment are summed into one, and segments summing to nothing go.
The outcome equals the sums of every row's facts at T (`totals_differences` checks it):
an untouched row's facts at T are its facts at T0 moved on as in 2 (its trailing windows
cannot move without the member being touched). Each step sums its members' facts in one
statement per table (metrics.kpis.rollup) and writes some seventy rows.
"""

import datetime as dt
from collections.abc import Callable, Iterator

from django.db.models import F, Model, Sum

from .kpis.rollup import Sql, create_temporary, drop_temporary, rollup, whole
from .kpis.segments import DIMENSIONS
from .kpis.state import (
    BASE_SUMS,
    CHANNEL_SUMS,
    STATE_SUMS,
    base_facts,
    base_rows,
    channel_facts,
    member_facts,
    state_windows,
)
from .models import MemberChannelTotals, MemberPeriodBaseTotals, MemberStateTotals
from .periods import PERIODS

BASES = "kpi_state_bases"
# (model, key fields besides the segment, summed fields) of each totals table.
_TABLES = (
    (MemberStateTotals, (), STATE_SUMS),
    (MemberChannelTotals, (), CHANNEL_SUMS),
    (MemberPeriodBaseTotals, ("period", "start"), BASE_SUMS),
)
Sums = dict[tuple, dict[str, int]]  # {(*keys, segment): {sum: value}}


def _summed(facts: Sql, names, fact_dims) -> dict[str, dict[str, int]]:
    # Every total is a SUM: the rows are summed per combination of the dimensions first,
    # so the grouping sets sum a tenth as many rows (98,000 combinations for a million
    # members), not one per member: PostgreSQL feeds every row to each set's seventy
    # aggregates (a million state rows took 7 s so, 4.1-4.6 s combined first; DuckDB 0.3 s).
    sql, params = facts
    by = ", ".join(fact_dims)
    summed = ", ".join(f"SUM({name}) AS {name}" for name in names)
    rows = rollup(
        facts=(f"SELECT {by}, {summed} FROM ({sql}) r GROUP BY {by}", params),  # noqa: S608
        aggregates={name: f"SUM({{{name}}})" for name in names},
        at=None,
        dims=(),
        fact_dims=fact_dims,
    )
    return {
        segment: {name: whole(row[name]) for name in names}
        for segment, row in rows.items()
        if any(row[name] for name in names)
    }


def _sums(
    as_of: dt.date,
    members: str | None,
    bases: Sums | None = None,
    *,
    rows: str | None = None,
    channel_rows: str | None = None,
) -> Iterator[Sums]:
    """The sums of each table over the rows of the members in table `members` (None: all)
    as at cutoff `as_of`; of the kept bases, the current periods' at `as_of` (`bases` when
    given: summed where they were computed). `rows`, `channel_rows`: tables holding
    exactly those members' state and channel state rows, read instead of the state's."""
    among = f"SELECT member_id FROM {members}" if members else None  # noqa: S608
    facts = member_facts(as_of, None if rows else among, table=rows)
    yield {(s,): v for s, v in _summed(facts, STATE_SUMS, DIMENSIONS).items()}
    facts = channel_facts(as_of, None if channel_rows else among, table=channel_rows)
    channels = _summed(facts, CHANNEL_SUMS, ("channel",))
    channels.pop("all", None)
    yield {(s,): v for s, v in channels.items()}
    yield _kept_base_sums(as_of, members, rows=rows) if bases is None else bases


def _kept_base_sums(as_of: dt.date, members: str | None, *, rows: str | None = None) -> Sums:
    """The sums of the current periods' kept churn bases at `as_of`, of the members in table
    `members` (None: all), whether they are active now read from table `rows` when given."""
    starts = current_starts(as_of)
    if not members:
        return base_sums(starts, lambda period, start: base_facts(period, start))
    # Their base rows first: one probe per member, not per member and period.
    create_temporary(BASES, base_rows(members, starts, rows=rows))
    try:
        return base_sums(starts, lambda period, start: base_facts(period, start, rows=BASES))
    finally:
        drop_temporary(BASES)


def current_starts(as_of: dt.date) -> dict[str, dt.date]:
    """{period: start} of the current periods at cutoff `as_of`."""
    return {p: start for p, start in state_windows(as_of).items() if p in PERIODS}


def base_sums(starts: dict[str, dt.date], facts_of: Callable[[str, dt.date], Sql]) -> Sums:
    """The kept churn bases' sums per period starting as in `starts`, from the facts (the
    columns base_facts gives) that `facts_of(period, start)` selects."""
    bases: Sums = {}
    for period, start in starts.items():
        for segment, values in _summed(facts_of(period, start), BASE_SUMS, DIMENSIONS).items():
            bases[(period, start, segment)] = values
    return bases


def _write(sums_of_tables: Iterator[Sums], *, sign: int) -> None:
    for (model, keys, _names), sums in zip(_TABLES, sums_of_tables, strict=True):
        model.objects.bulk_create(
            model(
                **dict(zip((*keys, "segment"), key, strict=True)),
                **{name: sign * value for name, value in values.items()},
            )
            for key, values in sums.items()
        )


def totals_rebuild(*, as_of: dt.date, bases: Sums | None = None) -> None:
    """The totals of the whole state at cutoff `as_of`; the kept bases' sums `bases` when
    given (a rebuild sums them where it computed the bases)."""
    for model, _keys, _names in _TABLES:
        model.objects.all().delete()
    _write(_sums(as_of, None, bases), sign=1)


def totals_move(
    *,
    as_of: dt.date,
    members: str,
    sign: int,
    rows: str | None = None,
    channel_rows: str | None = None,
) -> None:
    """Steps 1 (`sign` -1, as at T0) and 3 (+1, as at T): the rows of the members in table
    `members` (in step 3, from the tables `rows` and `channel_rows` the update wrote them
    from, when given: not probed in the state's million rows again)."""
    sums = _sums(as_of, members, rows=rows, channel_rows=channel_rows)
    totals_add(list(sums), sign=sign)


def totals_sums(*, as_of: dt.date, members: str) -> list[Sums]:
    """The sums of each table over the rows of the members in table `members` as at cutoff
    `as_of` (for `totals_add`: they may be read on another connection)."""
    return list(_sums(as_of, members))


def totals_row_sums(*, as_of: dt.date, members: str, rows: str, channel_rows: str) -> list[Sums]:
    """Step 3's sums of the state and channel tables over the rows in tables `rows` and
    `channel_rows` (those of the members in table `members`) at cutoff `as_of` (for
    `totals_add` with `totals_base_sums`': they may be read on another connection)."""
    sums = _sums(as_of, members, rows=rows, channel_rows=channel_rows)
    return [next(sums), next(sums)]


def totals_base_sums(*, as_of: dt.date, members: str, rows: str) -> Sums:
    """Step 3's sums of the kept churn bases of the members in table `members` at cutoff
    `as_of`, whether they are active now read from their rows in table `rows`."""
    return _kept_base_sums(as_of, members, rows=rows)


def totals_add(sums_of_tables: list[Sums], *, sign: int) -> None:
    _write(iter(sums_of_tables), sign=sign)


def totals_roll(*, old: dt.date, new: dt.date) -> None:
    """Step 2: the untouched rows moved from cutoff `old` to `new`."""
    before, after = state_windows(old), state_windows(new)
    for period in PERIODS:
        if before[period] == after[period]:
            continue
        zero = {f"{period}_{m}": 0 for m in ("purchases", "net", "buyer", "repeater")}
        MemberStateTotals.objects.update(
            **zero,
            **{f"{period}_expired": 0, f"{period}_expirer": 0},
            **({"month_bought": 0} if period == "month" else {}),
            **{f"new_{period}": 0, f"base_{period}": F("active")},
        )
        MemberChannelTotals.objects.update(**zero)
        MemberPeriodBaseTotals.objects.filter(period=period, start__lt=after[period]).delete()


def _kept(model: type[Model], keys: tuple[str, ...], names: tuple[str, ...]) -> Sums:
    rows = model.objects.values(*keys, "segment").annotate(**{n: Sum(n) for n in names})
    return {
        (*(row[k] for k in keys), row["segment"]): {n: whole(row[n]) for n in names}
        for row in rows.order_by()
        if any(row[n] for n in names)
    }


def totals_compact() -> None:
    """Step 4: one row per segment, none that sums to nothing."""
    for model, keys, names in _TABLES:
        kept = _kept(model, keys, names)
        model.objects.all().delete()
        model.objects.bulk_create(
            model(**dict(zip((*keys, "segment"), key, strict=True)), **values)
            for key, values in kept.items()
        )


def totals_differences(*, as_of: dt.date) -> list[str]:
    """The totals tables whose sums differ from the sums of the state's rows at `as_of`
    (empty when they are right). Writes nothing."""
    fresh = _sums(as_of, None)
    return [
        model._meta.db_table
        for (model, keys, names), sums in zip(_TABLES, fresh, strict=True)
        if _kept(model, keys, names) != sums
    ]
