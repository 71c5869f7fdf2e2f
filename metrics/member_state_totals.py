"""Keeping the member state's totals (docs/metrics.md, "Member state"): MemberStateTotals,
MemberChannelTotals and MemberPeriodBaseTotals hold the state rows' KPI facts
(metrics.kpis.state.member_facts, channel_facts, base_facts) summed per combination of the
dimensions, at the state's cutoff.

An update from cutoff T0 to T moves them by the touched members alone:
1. before their rows change, their facts as at T0 are subtracted;
2. the periods that rolled over between T0 and T are moved on for every other member: an
   untouched row's current-period purchases, buyers and joiners belong to the period that
   ended, so they count as none, and its churn base is its activity (a row untouched since
   before the new start describes the member at the start); the kept bases of ended
   periods go;
3. after their rows are replaced, their facts as at T are added;
4. rows of one combination are summed into one, and combinations summing to nothing go.
The outcome equals the sums of every row's facts at T (`totals_differences` checks it):
an untouched row's facts at T are its facts at T0 moved on as in 2 (its trailing windows
cannot move without the member being touched).
"""

import datetime as dt

from django.db import connection

from .kpis.rollup import create_temporary, drop_temporary
from .kpis.state import (
    BASE_SUMS,
    CHANNEL_SUMS,
    DIMENSION_KEYS,
    STATE_SUMS,
    base_facts,
    channel_facts,
    member_facts,
    state_windows,
)
from .models import MemberChannelTotals, MemberPeriodBaseTotals, MemberStateTotals
from .periods import PERIODS

SUMMED = "kpi_state_summed"
# (model, grouping columns, summed columns) of each totals table.
_TABLES = (
    (MemberStateTotals, DIMENSION_KEYS, STATE_SUMS),
    (MemberChannelTotals, ("channel",), CHANNEL_SUMS),
    (MemberPeriodBaseTotals, ("period", "start", *DIMENSION_KEYS), BASE_SUMS),
)


def _facts(as_of: dt.date, among: str | None):
    return (member_facts(as_of, among), channel_facts(as_of, among), base_facts(among))


def _insert(facts, *, sign: int) -> None:
    """Each totals table gets `facts`' rows summed per combination, times `sign`."""
    q = connection.ops.quote_name
    with connection.cursor() as cursor:
        for (model, keys, sums), (sql, params) in zip(_TABLES, facts, strict=True):
            grouped = ", ".join(q(key) for key in keys)
            names = ", ".join(q(name) for name in sums)
            summed = ", ".join(f"{sign} * SUM({q(name)})" for name in sums)
            cursor.execute(
                f"INSERT INTO {q(model._meta.db_table)} ({grouped}, {names})"  # noqa: S608
                f" SELECT {grouped}, {summed} FROM ({sql}) f GROUP BY {grouped}",
                params,
            )


def totals_rebuild(*, as_of: dt.date) -> None:
    """The totals of the whole state at cutoff `as_of`."""
    with connection.cursor() as cursor:
        for model, _keys, _sums in _TABLES:
            cursor.execute(f"DELETE FROM {connection.ops.quote_name(model._meta.db_table)}")  # noqa: S608
    _insert(_facts(as_of, None), sign=1)
    totals_compact()


def totals_subtract(*, as_of: dt.date, among: str) -> None:
    """Step 1: the rows of the members named by subquery `among`, as at `as_of` (T0)."""
    _insert(_facts(as_of, among), sign=-1)


def totals_roll(*, old: dt.date, new: dt.date) -> None:
    """Step 2: the untouched rows moved from cutoff `old` to `new`."""
    q = connection.ops.quote_name
    before, after = state_windows(old), state_windows(new)
    with connection.cursor() as cursor:
        for period in PERIODS:
            if before[period] == after[period]:
                continue
            zero = ", ".join(
                f"{q(f'{period}_{measure}')} = 0"
                for measure in ("purchases", "net", "buyer", "repeater")
            )
            cursor.execute(
                f"UPDATE {q(MemberStateTotals._meta.db_table)} SET {zero},"  # noqa: S608
                f" {q(f'new_{period}')} = 0, {q(f'base_{period}')} = {q('active')}"
            )
            cursor.execute(f"UPDATE {q(MemberChannelTotals._meta.db_table)} SET {zero}")  # noqa: S608
            cursor.execute(
                f"DELETE FROM {q(MemberPeriodBaseTotals._meta.db_table)}"  # noqa: S608
                " WHERE period = %s AND start < %s",
                [period, after[period]],
            )


def totals_add(*, as_of: dt.date, among: str) -> None:
    """Step 3: the rows of the members named by subquery `among`, as at `as_of` (T)."""
    _insert(_facts(as_of, among), sign=1)


def totals_compact() -> None:
    """Step 4: one row per combination, none that sums to nothing."""
    q = connection.ops.quote_name
    for model, keys, sums in _TABLES:
        table = q(model._meta.db_table)
        grouped = ", ".join(q(key) for key in keys)
        names = ", ".join(q(name) for name in sums)
        summed = ", ".join(f"SUM({q(name)}) AS {q(name)}" for name in sums)
        nonzero = " OR ".join(f"{q(name)} <> 0" for name in sums)
        create_temporary(
            SUMMED,
            (f"SELECT {grouped}, {summed} FROM {table} GROUP BY {grouped}", []),  # noqa: S608
        )
        with connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {table}")  # noqa: S608
            cursor.execute(
                f"INSERT INTO {table} ({grouped}, {names})"  # noqa: S608
                f" SELECT {grouped}, {names} FROM {SUMMED} WHERE {nonzero}"
            )
        drop_temporary(SUMMED)


def totals_differences(*, as_of: dt.date) -> list[str]:
    """The totals tables whose rows differ from the sums of the state's rows at `as_of`
    (empty when they are right). Writes nothing."""
    q = connection.ops.quote_name
    differing = []
    with connection.cursor() as cursor:
        for (model, keys, sums), (sql, params) in zip(_TABLES, _facts(as_of, None), strict=True):
            grouped = ", ".join(q(key) for key in keys)
            columns = ", ".join(q(c) for c in (*keys, *sums))
            summed = ", ".join(f"SUM({q(name)}) AS {q(name)}" for name in sums)
            nonzero = " OR ".join(f"{q(name)} <> 0" for name in sums)
            fresh = (
                f"SELECT * FROM (SELECT {grouped}, {summed} FROM ({sql}) f"  # noqa: S608
                f" GROUP BY {grouped}) s WHERE {nonzero}"
            )
            kept = f"SELECT {columns} FROM {q(model._meta.db_table)}"  # noqa: S608
            cursor.execute(
                f"SELECT COUNT(*) FROM (SELECT * FROM ({fresh}) a EXCEPT {kept}) d"  # noqa: S608
                f" UNION ALL SELECT COUNT(*) FROM ({kept} EXCEPT SELECT * FROM ({fresh}) b) e",
                [*params, *params],
            )
            if any(count for (count,) in cursor.fetchall()):
                differing.append(model._meta.db_table)
    return differing
