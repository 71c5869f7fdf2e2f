"""Reading the KPI member state (kept by metrics.member_state; docs/metrics.md, "Member
state"): the totals the nightly's calculators take from it instead of the books when the
state is at their window's cutoff.

The state's rows hold each member's dimensions on the day before the cutoff T and their
measures at T; the totals tables hold those rows' facts summed per segment (kept by
metrics.member_state_totals), so every total is read from some seventy rows, whatever the
number of members.
Each answer equals what the calculator computes from the books (tests/metrics/
test_member_state.py runs both over the same nights); a window the state cannot answer
(another cutoff, a churn period whose start the state did not see) goes to the books.
"""

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.conf import settings
from django.db import connection

from ..periods import PERIODS, period_floor
from .activity import lapse_days, months_before
from .base import shared
from .rollup import rollup, whole
from .segments import DIMENSIONS, local_midnight

# The purchase measures a state row keeps (per member and per member and channel): the
# trailing year (y), the trailing repeat window (r) and each current period.
WINDOWS = ("y", "r", *PERIODS)
PURCHASE_COLUMNS = tuple(f"{key}_{measure}" for key in WINDOWS for measure in ("purchases", "net"))

# The sums the totals tables keep (metrics.models.member_state: MemberStateTotals,
# MemberChannelTotals and MemberPeriodBaseTotals, the columns of those names).
PURCHASE_SUMS = tuple(
    f"{key}_{measure}" for key in WINDOWS for measure in ("purchases", "net", "buyer", "repeater")
)
# Per current period: points expired in it up to the cutoff, and whether any (0/1).
EXPIRY_COLUMNS = tuple(f"{p}_{measure}" for p in PERIODS for measure in ("expired", "expirer"))
STATE_SUMS = (
    "joined",
    "month_bought",
    *EXPIRY_COLUMNS,
    "is_member",
    "active",
    "dormant",
    "points_row",
    "points",
    "holder",
    *PURCHASE_SUMS,
    *(f"new_{period}" for period in PERIODS),
    *(f"base_{period}" for period in PERIODS),
)
CHANNEL_SUMS = ("active", *PURCHASE_SUMS)
BASE_SUMS = ("base", "lost")

_ENABLED: ContextVar[bool] = ContextVar("kpi_member_state", default=True)


@contextmanager
def books_only() -> Iterator[None]:
    """Compute from the books even where the member state could answer (tests, benchmarks,
    checking the state)."""
    token = _ENABLED.set(False)
    try:
        yield
    finally:
        _ENABLED.reset(token)


def state_windows(as_of: dt.date) -> dict[str, dt.date]:
    """{window: start} of the purchase windows a state at cutoff `as_of` keeps."""
    last = as_of - dt.timedelta(days=1)
    return {
        "y": months_before(as_of, 12),
        "r": months_before(as_of, settings.LOYALTY_REPEAT_MONTHS),
        **{period: period_floor(period, last) for period in PERIODS},
    }


def _mark(as_of: dt.date):
    """The state's mark when the state is at cutoff `as_of` (with today's settings)."""
    if not _ENABLED.get():
        return None
    from ..models import MemberStateMark

    mark = shared(("member_state_mark",), lambda: MemberStateMark.objects.first())
    if mark is None or mark.as_of != as_of:
        return None
    if (mark.lapse_days, mark.repeat_months) != (lapse_days(), settings.LOYALTY_REPEAT_MONTHS):
        return None
    return mark


def _instant(value: dt.datetime):
    """An aware datetime as raw SQL takes it (SQLite stores UTC text)."""
    return connection.ops.adapt_datetimefield_value(value)


def _table(model_name: str) -> str:
    from .. import models

    return connection.ops.quote_name(getattr(models, model_name)._meta.db_table)


def _purchase_facts(as_of: dt.date) -> tuple[list[str], list]:
    """Fact columns (and their parameters) of the purchase measures, each period's counted
    only in rows of that period (a row untouched since an earlier period holds that one's)."""
    columns, params = [], []
    for key, start in state_windows(as_of).items():
        if key in PERIODS:
            for measure in ("purchases", "net"):
                columns.append(
                    f"CASE WHEN {key}_start = %s THEN {key}_{measure} ELSE 0 END AS {key}_{measure}"
                )
                params.append(start)
        else:
            columns += [f"{key}_purchases", f"{key}_net"]
    for key, start in state_windows(as_of).items():
        current = f"{key}_start = %s AND " if key in PERIODS else ""
        for name, least in (("buyer", 1), ("repeater", 2)):
            columns.append(
                f"CASE WHEN {current}{key}_purchases >= {least} THEN 1 ELSE 0 END AS {key}_{name}"
            )
            if current:
                params.append(start)
    return columns, params


def dimensions_table(day: dt.date) -> str | None:
    """The state's table when it holds every member's dimensions on `day` (a state at
    cutoff day + 1), for any rollup to join; None otherwise."""
    if _mark(day + dt.timedelta(days=1)) is None:
        return None
    return _table("MemberState")


def _among(among: str | None) -> str:
    return f" WHERE member_id IN ({among})" if among else ""


def member_facts(
    as_of: dt.date, among: str | None = None, *, table: str | None = None
) -> tuple[str, list]:
    """Per state row (of the members the subquery `among` names; None: all): the member's
    dimensions (by their names) and the facts the totals sum (STATE_SUMS), as at cutoff
    `as_of`. From `table` (rows of the state's columns) instead of the state when given."""
    starts = state_windows(as_of)
    end = local_midnight(as_of)
    dims = ", ".join(f"d_{name} AS {name}" for name in DIMENSIONS)
    purchases, params = _purchase_facts(as_of)
    periods = []
    for period in PERIODS:
        periods.append(
            f"CASE WHEN joined_at >= %s AND joined_at < %s THEN 1 ELSE 0 END AS new_{period}"
        )
        params += [_instant(local_midnight(starts[period])), _instant(end)]
    for period in PERIODS:
        periods.append(f"CASE WHEN version <= %s AND active = 1 THEN 1 ELSE 0 END AS base_{period}")
        params.append(starts[period])
    periods.append("CASE WHEN joined_at < %s THEN 1 ELSE 0 END AS joined")
    periods.append(
        "CASE WHEN joined_at < %s AND month_start = %s THEN month_bought ELSE 0 END AS month_bought"
    )
    params += [_instant(end), _instant(end), starts["month"]]
    for column in EXPIRY_COLUMNS:
        period = column.split("_", 1)[0]
        periods.append(f"CASE WHEN {period}_start = %s THEN {column} ELSE 0 END AS {column}")
        params.append(starts[period])
    sql = (
        f"SELECT {dims}, is_member, active, dormant, points_row,"  # noqa: S608
        " CASE WHEN points_row = 1 THEN points ELSE 0 END AS points,"
        " CASE WHEN points > 0 THEN 1 ELSE 0 END AS holder, "
        + ", ".join(purchases + periods)
        + f" FROM {table or _table('MemberState')}{_among(among)}"
    )
    return sql, params


def channel_facts(
    as_of: dt.date, among: str | None = None, *, table: str | None = None
) -> tuple[str, list]:
    """Per channel state row: the channel and the facts the channel totals sum. From
    `table` (rows of the channel state's columns) instead of the channel state when given."""
    purchases, params = _purchase_facts(as_of)
    sql = (
        f"SELECT channel, active, {', '.join(purchases)}"  # noqa: S608
        f" FROM {table or _table('MemberChannelState')}{_among(among)}"
    )
    return sql, params


def base_facts(period: str, start: dt.date, *, rows: str | None = None) -> tuple[str, list]:
    """Per kept churn base row of `period` starting `start`: its dimensions; lost if not
    active at the state's cutoff. From `rows` (a table of base_rows) when given."""
    if rows is not None:
        sql = (
            f"SELECT {', '.join(DIMENSIONS)}, 1 AS base, lost FROM {rows}"  # noqa: S608
            " WHERE period = %s AND start = %s"
        )
        return sql, [period, start]
    dims = ", ".join(f"b.d_{name} AS {name}" for name in DIMENSIONS)
    sql = (
        f"SELECT {dims}, 1 AS base,"  # noqa: S608
        " CASE WHEN s.active = 1 THEN 0 ELSE 1 END AS lost"
        f" FROM {_table('MemberPeriodBase')} b"
        f" INNER JOIN {_table('MemberState')} s ON s.member_id = b.member_id"
        " WHERE b.period = %s AND b.start = %s"
    )
    return sql, [period, start]


def base_rows(
    members: str, starts: dict[str, dt.date], *, rows: str | None = None
) -> tuple[str, list]:
    """The kept churn base rows of the members in table `members` for the periods starting
    as in `starts` ({period: start}), with lost as base_facts gives it: one probe of the
    bases per member, not one per member and period. Whether they are active now from
    `rows` (their state rows) instead of the state when given."""
    dims = ", ".join(f"b.d_{name} AS {name}" for name in DIMENSIONS)
    current = " OR ".join("(b.period = %s AND b.start = %s)" for _ in starts)
    sql = (
        f"SELECT b.period, b.start, {dims},"  # noqa: S608
        " CASE WHEN s.active = 1 THEN 0 ELSE 1 END AS lost"
        f" FROM {members} t"
        f" INNER JOIN {_table('MemberPeriodBase')} b ON b.member_id = t.member_id"
        f" INNER JOIN {rows or _table('MemberState')} s ON s.member_id = t.member_id"
        f" WHERE {current}"
    )
    return sql, [value for pair in starts.items() for value in pair]


def _kept_totals(model_name: str, names: tuple[str, ...], **where) -> dict[str, dict]:
    """{segment: {sum: value}} of a totals table (metrics.member_state_totals keeps them)."""
    from django.db.models import Sum

    from .. import models

    rows = (
        getattr(models, model_name)
        .objects.filter(**where)
        .order_by()
        .values("segment")
        .annotate(**{name: Sum(name) for name in names})
    )
    return {row.pop("segment"): row for row in rows}


def totals(as_of: dt.date) -> dict[str, dict] | None:
    """{segment: totals} at cutoff `as_of` ("all", the member dimensions, "channel:<c>"),
    or None when the state is not at that cutoff. Shared within a run step."""
    if _mark(as_of) is None:
        return None
    return shared(("member_state_totals", as_of), _all_totals)


def _all_totals() -> dict[str, dict]:
    rows = {"all": dict.fromkeys(STATE_SUMS, 0)}
    rows |= _kept_totals("MemberStateTotals", STATE_SUMS)
    return rows | _kept_totals("MemberChannelTotals", CHANNEL_SUMS)


def counted(as_of: dt.date, measure: str, *, channels: bool = False) -> dict[str, int] | None:
    """{segment: total of `measure`} for the segments where it is above zero ("all"
    always), as a rollup over the members it counts gives them; channel slices with
    `channels`. None when the state cannot answer."""
    rows = totals(as_of)
    if rows is None:
        return None
    return {
        segment: whole(row[measure])
        for segment, row in rows.items()
        if (channels or not segment.startswith("channel:"))
        and (segment == "all" or whole(row[measure]) > 0)
    }


def new_members(start: dt.date, as_of: dt.date, period: str) -> dict[str, int] | None:
    """Members who joined in the current `period` [start, as_of), by dimension."""
    if state_windows(as_of).get(period) != start:
        return None
    return counted(as_of, f"new_{period}")


def points(as_of: dt.date) -> dict[str, tuple[int, int]] | None:
    """{segment: (points outstanding, holders)} for the segments with a points row."""
    rows = totals(as_of)
    if rows is None:
        return None
    return {
        segment: (whole(row["points"]), whole(row["holder"]))
        for segment, row in rows.items()
        if not segment.startswith("channel:") and (segment == "all" or whole(row["points_row"]) > 0)
    }


def expired(start: dt.date, as_of: dt.date, period: str) -> dict[str, tuple[int, int]] | None:
    """{segment: (points expired, members they expired for)} in the current `period`
    [start, as_of) of the state, for the segments with such members ("all" always)."""
    rows = totals(as_of) if state_windows(as_of).get(period) == start else None
    if rows is None:
        return None
    return {
        segment: (whole(row[f"{period}_expired"]), whole(row[f"{period}_expirer"]))
        for segment, row in rows.items()
        if not segment.startswith("channel:")
        and (segment == "all" or whole(row[f"{period}_expirer"]) > 0)
    }


def cohorts(start: dt.date, as_of: dt.date) -> dict[str, tuple[int, int]] | None:
    """{"cohort:<YYYY-MM>": (members who joined in it before `as_of`, those of them with a
    purchase in the current month [start, as_of))} when that month is the state's."""
    rows = totals(as_of) if state_windows(as_of)["month"] == start else None
    if rows is None:
        return None
    return {
        segment: (whole(row["joined"]), whole(row["month_bought"]))
        for segment, row in rows.items()
        if segment.startswith("cohort:") and whole(row["joined"]) > 0
    }


def buyers(start: dt.date, end: dt.date) -> dict[str, dict] | None:
    """What metrics.kpis.purchases.buyer_rollup gives for purchases in [start, end) counting
    at `end`, when that is a window the state keeps."""
    keys = [key for key, first in state_windows(end).items() if first == start]
    rows = totals(end) if keys else None
    if rows is None:
        return None
    key = keys[0]
    return {
        segment: {
            "buyers": whole(row[f"{key}_buyer"]),
            "purchases": whole(row[f"{key}_purchases"]),
            "net": whole(row[f"{key}_net"]),
            "repeaters": whole(row[f"{key}_repeater"]),
        }
        for segment, row in rows.items()
        if segment == "all" or whole(row[f"{key}_buyer"]) > 0
    }


def follow_up(end: dt.datetime, through: dt.date):
    """The challenge repeat comparison's sets when its follow-up runs to the state's cutoff
    `through`: (members active at `end`, those of them who bought from `end` on (a purchase
    counting at the cutoff), a function giving both counts, (sql, params) of them as rows
    (member_id, bought 0/1)), or None. Active at `end` is the members' active spans (one
    per member at most: a member's spans are disjoint); bought since, their last purchase.
    The rows are a subquery for the caller to join its few completers to (each probes the
    spans by member), not a table of the 600,000-700,000 members active at a million."""
    if _mark(through) is None:
        return None
    from django.db.models import Case, Count, IntegerField, Q, When
    from django.db.models import Value as V

    from ..models import MemberActiveSpan
    from .rollup import compiled

    spans = MemberActiveSpan.objects.filter(starts_at__lt=end, ends_at__gte=end).order_by()
    bought = Q(last_purchase_at__gte=end)

    def counts() -> dict[str, int]:
        # Not the id: a copy of the table filled by these statements elsewhere may have none.
        return spans.aggregate(members=Count("member_id"), repeat=Count("member_id", filter=bought))

    rows = compiled(
        spans.values(
            "member_id",
            bought=Case(When(bought, then=V(1)), default=V(0), output_field=IntegerField()),
        )
    )
    return spans.values("member_id"), spans.filter(bought).values("member_id"), counts, rows


def churn_since(start: dt.date, end: dt.date) -> dict[str, tuple[int, int]] | None:
    """Churn's counts for any period [start, end) ending at the state's cutoff (LTV's
    trailing year): the base from the active spans covering the start; lost, those not
    active now. The base's dimensions on the day before come from their state rows (no
    read of the members table): the tier and home store from the rows' and the changes
    since, the age band from the birth date, the segment from joining (active then: not
    dormant), the cohort and gender as they are."""
    if _mark(end) is None:
        return None
    from django.db.models import Case, F, IntegerField, When
    from django.db.models import Value as V

    from members.models import HomeStoreChange, TierChange

    from ..models import MemberActiveSpan, MemberState
    from .segments import as_then, member_dimension

    begin = local_midnight(start)
    base = MemberActiveSpan.objects.filter(starts_at__lt=begin, ends_at__gte=begin).values(
        "member_id"
    )
    day_before = start - dt.timedelta(days=1)
    dims = {
        "segment": member_dimension("segment", day_before, among=base, active=True),
        "tier": as_then(TierChange, "from_tier", F("d_tier"), end=begin, among=base),
        "store": as_then(HomeStoreChange, "from_store", F("d_store"), end=begin, among=base),
        "cohort": F("d_cohort"),
        "age": member_dimension("age", day_before),
        "gender": F("d_gender"),
    }
    facts = (
        MemberState.objects.filter(member_id__in=base)
        .order_by()
        .values("member_id")
        .annotate(
            base=V(1),
            lost=Case(When(active=1, then=V(0)), default=V(1), output_field=IntegerField()),
            **{name: dims[name] for name in DIMENSIONS},
        )
    )
    rows = rollup(
        facts=facts,
        aggregates={"base": "SUM({base})", "lost": "SUM({lost})"},
        at=None,
        dims=(),
        fact_dims=DIMENSIONS,
    )
    return {segment: (whole(row["base"]), whole(row["lost"])) for segment, row in rows.items()}


def churn(start: dt.date, end: dt.date) -> dict[str, tuple[int, int]] | None:
    """{segment: (active at the start, lost by the end)} for a current period [start, end)
    of the state: the base is the members active then whose row is older than the start
    (with the row's dimensions) and those kept in MemberPeriodBase (with theirs then); the
    lost, those of the kept ones who are not active now (a row older than the start is as
    active now as then)."""
    mark = _mark(end)
    periods = [p for p, first in state_windows(end).items() if p in PERIODS and first == start]
    if mark is None or not periods:
        return None
    period = periods[0]
    rows = totals(end)
    kept = _kept_totals("MemberPeriodBaseTotals", BASE_SUMS, period=period, start=start)
    out = {}
    for segment in rows.keys() | kept.keys():
        if segment.startswith("channel:"):
            continue
        untouched = whole(rows.get(segment, {}).get(f"base_{period}"))
        base = untouched + whole(kept.get(segment, {}).get("base"))
        if segment == "all" or base > 0:
            out[segment] = (base, whole(kept.get(segment, {}).get("lost")))
    return out
