"""One KPI sliced by every member dimension in one SQL statement.

A calculator describes its facts as a queryset with one row per member (or per member and
channel) and the sums it needs as SQL aggregate templates over the facts' columns; `rollup`
joins each row to the member's dimensions on a date (`segments.member_dimension`) and
aggregates "all" and every dimension in a single statement, so the facts (range scans of
purchases or the ledger) are read once rather than once per dimension:

    WITH x AS (<facts>), m AS (<member id + dimensions>),
         f AS (SELECT x.*, m.d_tier, ... FROM x JOIN m ON m.id = x.member_id)
    SELECT 'all', NULL, <aggregates> FROM f
    UNION ALL SELECT 'tier', CAST(d_tier AS TEXT), <aggregates> FROM f GROUP BY d_tier
    UNION ALL ...

PostgreSQL and SQLite both evaluate a CTE referenced several times once (materialised).
The templates are constants of the calculators; values only ever travel as parameters.
"""

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from django.db import connection
from django.db.models import QuerySet

from .base import is_sharing, on_sharing_exit, shared
from .segments import DIMENSIONS, label, member_dimension

Sql = tuple[str, list[Any]]
_IDENTIFIER = re.compile(r"[a-z][a-z0-9_]*")


def _identifier(name: str) -> str:
    """Dimension and aggregate names go into the SQL text: only plain lower-case names."""
    if not _IDENTIFIER.fullmatch(name):
        raise ValueError(f"not a plain identifier: {name!r}")
    return name


class _Columns(dict):
    """Formats "{name}" in an aggregate template as the quoted column name."""

    def __missing__(self, key: str) -> str:
        return connection.ops.quote_name(key)


def compiled(queryset: QuerySet) -> Sql:
    sql, params = queryset.query.get_compiler(queryset.db).as_sql()
    return sql, list(params)


def segment_label(dimension: str, raw: str | None) -> str:
    """The snapshot segment of a grouped value, which arrives as text ("cohort" as the first
    day of the month, "2026-01-01 00:00:00" or "2026-01-01")."""
    if dimension == "all":
        return "all"
    if dimension == "cohort" and raw:
        return label("cohort", dt.date.fromisoformat(raw[:10]))
    return label(dimension, raw)


def members_at(
    at: dt.date, dims: Iterable[str], among: QuerySet | None = None, *, active: bool = False
) -> QuerySet:
    """Members' ids and dimensions on `at` (d_<name>); with `among`, only those members;
    `active`: they are all active at the end of `at` (segments.member_dimension)."""
    from members.models import Member

    members = Member.objects.order_by()
    if among is not None:
        members = members.filter(pk__in=among)
    return members.values("id").annotate(
        **{f"d_{name}": member_dimension(name, at, among=among, active=active) for name in dims}
    )


def _members_source(
    at: dt.date, dims: tuple[str, ...], among: QuerySet | None = None, active: bool = False
) -> Sql:
    """The members and their dimensions on `at`: inside a sharing block (a snapshot run
    step), a temporary table computed once per date for every calculator of the step (the
    dimensions cost about as much as a calculator's own facts, and a nightly step slices a
    few dozen KPIs on the same one or two dates); outside it, the query itself."""
    from . import state

    q = connection.ops.quote_name
    columns = ", ".join(q(f"d_{name}") for name in dims)
    kept = state.dimensions_table(at)
    if kept is not None:
        return f"SELECT member_id AS {q('id')}, {columns} FROM {kept}", []  # noqa: S608
    if among is not None:  # a few members: their own dimensions, no table of everyone's
        return compiled(members_at(at, dims, among, active=active))
    if not is_sharing():
        return compiled(members_at(at, dims))
    table = shared(("members_at", at), lambda: _members_table(at))
    return f"SELECT {q('id')}, {columns} FROM {table}", []  # noqa: S608


def _members_table(at: dt.date) -> str:
    return temporary_table(f"kpi_members_{at:%Y%m%d}", compiled(members_at(at, DIMENSIONS)))


def temporary_table(table: str, query: Sql) -> str:
    """`query`'s rows as temporary table `table` (a plain name starting "kpi_"), dropped when
    the active sharing block ends."""
    create_temporary(table, query)
    on_sharing_exit(lambda: drop_temporary(table))
    return table


def create_temporary(table: str, query: Sql, *, analyze: tuple[str, ...] = ()) -> None:
    """`query`'s rows as temporary table `table` (a plain name starting "kpi_"), replacing
    one of that name; the caller drops it (drop_temporary). `analyze`: the columns whose
    statistics its readers' plans need (default: all; a wide table read only by its key
    is analysed in a tenth of the time by that column alone)."""
    if not table.startswith("kpi_"):
        raise ValueError(f"not a KPI run's table: {table!r}")
    _identifier(table)
    for column in analyze:
        _identifier(column)
    sql, params = query
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {table}")
        cursor.execute(f"CREATE TEMPORARY TABLE {table} AS {sql}", params)
        if connection.vendor == "postgresql":
            # Temporary tables are never auto-analysed.
            cursor.execute(f"ANALYZE {table}" + (f" ({', '.join(analyze)})" if analyze else ""))


def drop_temporary(table: str) -> None:
    _identifier(table)
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {table}")


def rollup(
    *,
    facts: QuerySet | Sql,
    aggregates: Mapping[str, str],
    at: dt.date | None,
    dims: Iterable[str] = DIMENSIONS,
    fact_dims: Iterable[str] = (),
    member: str = "member_id",
    among: QuerySet | None = None,
    among_active: bool = False,
) -> dict[str, dict[str, Any]]:
    """{segment: {aggregate: total}} for "all", each member dimension of `dims` on local
    date `at` (the member's state at the end of that day) and each column of `fact_dims`
    (e.g. the purchase channel); `among` (member ids) names the members the facts can hold,
    when few (`among_active`: all active at the end of `at`). Only groups with rows appear,
    "all" always does (sums of nothing are None, counts 0). Rows of `facts` whose member has
    no dimension row cannot exist (every row's `member` column is a member id)."""
    dims = tuple(_identifier(name) for name in dims)
    fact_dims = tuple(_identifier(name) for name in fact_dims)
    for name in aggregates:
        _identifier(name)
    q = connection.ops.quote_name
    facts_sql, params = facts if isinstance(facts, tuple) else compiled(facts)
    ctes = [f"x AS ({facts_sql})"]
    if dims:
        members_sql, members_params = _members_source(at, dims, among, among_active)
        params = [*params, *members_params]
        columns = ", ".join(f"m.{q(f'd_{name}')}" for name in dims)
        ctes += [
            f"m AS ({members_sql})",
            f"f AS (SELECT x.*, {columns} FROM x INNER JOIN m ON m.{q('id')} = x.{q(member)})",  # noqa: S608
        ]
    else:
        ctes.append("f AS (SELECT * FROM x)")
    sums = ", ".join(
        f"{template.format_map(_Columns())} AS {q(name)}" for name, template in aggregates.items()
    )
    grouped = [(name, f"d_{name}") for name in dims] + [(name, name) for name in fact_dims]
    names = list(aggregates)
    if connection.vendor == "postgresql":
        return _grouping_sets(ctes, params, grouped, sums, names)
    # Identifiers checked above and constant templates only; values travel as parameters.
    selects = [f"SELECT 'all' AS dim, NULL AS val, {sums} FROM f"] + [  # noqa: S608
        f"SELECT '{name}', CAST({q(column)} AS TEXT), {sums} FROM f GROUP BY {q(column)}"  # noqa: S608
        for name, column in grouped
    ]
    sql = f"WITH {', '.join(ctes)} {' UNION ALL '.join(selects)}"
    out: dict[str, dict[str, Any]] = {}
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for dim, raw, *totals in cursor.fetchall():
            out[segment_label(dim, raw)] = dict(zip(names, totals, strict=True))
    return out


def _grouping_sets(ctes, params, grouped, sums, names) -> dict[str, dict[str, Any]]:
    """PostgreSQL: "all" and every dimension in one pass over the facts (GROUP BY GROUPING
    SETS, hashed), rather than one scan of the materialised facts per dimension. GROUPING()
    tells a row's set apart from a dimension whose value is NULL."""
    q = connection.ops.quote_name
    columns = [q(column) for _name, column in grouped]
    sets = ", ".join(["()", *(f"({column})" for column in columns)])
    values = "".join(f"CAST({column} AS TEXT), GROUPING({column}), " for column in columns)
    # Identifiers checked by rollup and constant templates only; values travel as parameters.
    sql = f"WITH {', '.join(ctes)} SELECT {values}{sums} FROM f GROUP BY GROUPING SETS ({sets})"  # noqa: S608
    out: dict[str, dict[str, Any]] = {}
    width = 2 * len(grouped)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for row in cursor.fetchall():
            segment = "all"
            for i, (name, _column) in enumerate(grouped):
                if row[2 * i + 1] == 0:  # grouped by this dimension
                    segment = segment_label(name, row[2 * i])
            out[segment] = dict(zip(names, row[width:], strict=True))
    return out


def whole(value: Any) -> int:
    """An aggregate as an int (SUM is NULL over no rows, numeric on PostgreSQL)."""
    if value is None:
        return 0
    return int(Decimal(value))
