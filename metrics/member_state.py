"""Keeping the KPI member state up to date (docs/metrics.md, "Member state").

The state (metrics.models.member_state) holds, per member, the dimensions on the day before
the cutoff T and the measures at T that the nightly KPIs aggregate: membership, activity,
dormancy, points outstanding, and the purchases counting at T of the trailing year, the
trailing repeat window and each current period (per member and per member and channel),
and the member's active spans (when they were active, for any past instant). Every value
is computed by the calculators' own definitions (metrics.kpis.activity, segments, points),
restricted to the members being recomputed.

Moving the state from T0 to T recomputes only the members whose row may differ ("touched"),
found by index range scans over what changed between the two cutoffs:
- rows recorded since the last update began (purchases, returns, ledger entries, member
  profile changes: Member.changed_at), less a safety margin, and rows whose business time
  falls in [T0, T) (purchases, returns, ledger entries, joins, withdrawals, tier and home
  store changes);
- the edges of the trailing windows: purchases leaving the lapse window or the dormancy
  window of the segment dimension (unless an unreturned purchase in the same channel stays
  inside both), the trailing year and the repeat window; members leaving the "new" stage;
  lots passing their expiry; birthdays into another age band.
A member outside all of these has the same row at T as at T0, so the night costs what the
day's data costs. Recomputing a member whose row did not change is harmless: the detection
may take in more members than needed, never fewer.

Before a touched member's row is replaced, churn's base of each current period is kept for
them (MemberPeriodBase): their row untouched since the period's start still described them
at the start; once touched, the start's state would be lost. Members with rows recorded
late or a changed profile get theirs from the books instead.

A rebuild (from scratch) is two chains that meet at the end: the state rows (channel facts,
then the rows), and the rows' points outstanding and expiry facts, the active spans with the
churn bases read from them, then the bases' sums. Called with no transaction open on
PostgreSQL, the second chain runs on a second connection meanwhile
(metrics.second_connection) and hands over committed unlogged tables as soon as each is
written (the facts before the rows need them), summing the bases while this one copies them
into the state; otherwise the same statements run first on this connection, into temporary tables. A
night likewise has the touched members' channel facts, then rows and channel rows, then
those rows' sums, and their spans (of those whose spans may differ) and then their old rows'
sums, computed on two connections of their own (given their ids), while this one keeps their
bases, deletes their old rows, writes the new ones and sums their bases.
"""

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from functools import partial

from django.conf import settings
from django.db import connection, transaction
from django.db.models import (
    BigIntegerField,
    Case,
    CharField,
    Count,
    Exists,
    F,
    IntegerField,
    Max,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    When,
)
from django.db.models import Value as V
from django.db.models.expressions import RawSQL
from django.db.models.functions import Cast, Coalesce, Least
from django.utils import timezone

from challenges.evaluator import DORMANT_AFTER_DAYS, NEW_MEMBER_DAYS
from loyalty.localtime import local_midnight

from .bulk_load import indexes_built_after
from .kpis import activity
from .kpis.plans import kpi_plans, planner_settings
from .kpis.points import expired_in, outstanding_facts
from .kpis.rollup import compiled, create_temporary, drop_temporary, members_at
from .kpis.segments import DIMENSIONS, age_band_moved
from .kpis.state import EXPIRY_COLUMNS, PURCHASE_COLUMNS, state_windows
from .member_state_totals import (
    Sums,
    base_sums,
    current_starts,
    totals_add,
    totals_base_sums,
    totals_compact,
    totals_move,
    totals_rebuild,
    totals_roll,
    totals_row_sums,
    totals_sums,
)
from .models import (
    MemberActiveSpan,
    MemberChannelState,
    MemberPeriodBase,
    MemberState,
    MemberStateMark,
)
from .periods import PERIODS
from .second_connection import alongside_steps, can_run_alongside

TOUCHED = "kpi_state_touched"
TOUCHED_SPANS = "kpi_state_touched_spans"  # those of them whose active spans may differ
CHANNELS = "kpi_state_channels"
ROWS = "kpi_state_rows"
CHANNEL_ROWS = "kpi_state_channel_rows"  # a night's new channel state rows
BASE = "kpi_state_base"
LATE = "kpi_state_late"
SPANS = "kpi_state_spans"
BASES = "kpi_state_bases_new"
ACTIVE = "kpi_state_active"
POINTS = "kpi_state_points"  # a rebuild's points outstanding and expiry facts
EXPIRY = "kpi_state_expiry"
# Committed tables: a rebuild's second connection writes them.
SPANS_STAGED = "kpi_state_spans_staged"
CHANNELS_STAGED = "kpi_state_channels_staged"
ROWS_STAGED = "kpi_state_rows_staged"
CHANNEL_ROWS_STAGED = "kpi_state_channel_rows_staged"
BASES_STAGED = "kpi_state_bases_staged"
# Wide tables read only by member (grouped or joined on it): only that column is analysed.
BY_MEMBER = ("member_id",)
# Rows recorded in the last update's final moments may have committed after it read: they
# are read again by the next one.
MARGIN = dt.timedelta(hours=1)
_DAY = dt.timedelta(days=1)


@dataclass(frozen=True, slots=True)
class StateUpdate:
    as_of: dt.date
    rebuilt: bool
    members: int  # rows recomputed


def member_state_update(
    *,
    today: dt.date,
    rebuild: bool = False,
    refresh: bool = False,
    alone: Callable[[], None] | None = None,
) -> StateUpdate:
    """Move the member state to cutoff `today`: incrementally from the last cutoff, or from
    scratch when there is none, the settings it was computed with changed, it is ahead of
    `today`, or `rebuild` is asked for. `refresh`: a state already at `today` takes in
    the rows recorded since its update began reading (a back-dated purchase: what the next
    night would take in), as a night from `today` to `today` does. `alone` is called when
    the update's work on other connections is over and the rest runs on this one (a
    night's writes, a rebuild's last inserts, index builds and totals): other work can
    then have the second core."""
    # Outside a transaction, the spans are computed on a second connection meanwhile.
    concurrent = can_run_alongside()
    with transaction.atomic():
        # One update at a time: a second run waits here, then finds the state moved on.
        mark = MemberStateMark.objects.select_for_update().first()
        current = mark is not None and _same_settings(mark) and mark.as_of == today
        if not rebuild and not refresh and current:
            return StateUpdate(today, False, 0)
        fresh = rebuild or mark is None or not _same_settings(mark) or mark.as_of > today
        read_at = timezone.now()
        # A rebuild reads everything (bitmap and sequential scans); a night, a few members'.
        with kpi_plans(index_scans=not fresh):
            if fresh:
                members = _recompute(today, among=None, concurrent=concurrent, alone=alone)
            else:
                spans_may_differ, others = _touched_parts(mark, today)
                create_temporary(TOUCHED, _member_ids(spans_may_differ + others))
                create_temporary(TOUCHED_SPANS, _member_ids(spans_may_differ))
                members = _recompute(
                    today, among=_touched(), mark=mark, concurrent=concurrent, alone=alone
                )
        MemberStateMark.objects.update_or_create(
            pk=1,
            defaults={
                "as_of": today,
                "read_at": read_at,
                "lapse_days": activity.lapse_days(),
                "repeat_months": settings.LOYALTY_REPEAT_MONTHS,
            },
        )
        for table in (TOUCHED, TOUCHED_SPANS, CHANNELS, ROWS, CHANNEL_ROWS, BASE, LATE):
            drop_temporary(table)
    return StateUpdate(today, fresh, members)


def _same_settings(mark: MemberStateMark) -> bool:
    return (mark.lapse_days, mark.repeat_months) == (
        activity.lapse_days(),
        settings.LOYALTY_REPEAT_MONTHS,
    )


def _touched(table: str = TOUCHED) -> RawSQL:
    return RawSQL(f"SELECT member_id FROM {table}", [])  # noqa: S608, S611


# --- Which members may have changed -----------------------------------------------------------


def _touched_parts(mark: MemberStateMark, today: dt.date) -> tuple[list[QuerySet], list[QuerySet]]:
    """Querysets of the `member_id`s whose row at `today` may differ from their row at
    mark.as_of: those whose active spans may differ too (new or late purchases and returns,
    joins, withdrawals, changed profiles: the spans read nothing else, and no cutoff), and
    the others."""
    from loyalty.models import LedgerEntry, PointLot, Purchase, PurchaseReturn
    from members.models import HomeStoreChange, Member, TierChange

    old, new = mark.as_of, today
    m0, m1 = local_midnight(old), local_midnight(new)
    since = mark.read_at - MARGIN

    def shifted(days: int) -> Q:
        return Q(
            occurred_at__gte=m0 - dt.timedelta(days=days),
            occurred_at__lt=m1 - dt.timedelta(days=days),
        )

    def months(n: int) -> Q:
        return Q(
            occurred_at__gte=local_midnight(activity.months_before(old, n)),
            occurred_at__lt=local_midnight(activity.months_before(new, n)),
        )

    day = Q(occurred_at__gte=m0, occurred_at__lt=m1)
    recorded = (day, Q(created_at__gte=since))  # rows of the day, and rows recorded late
    spans: list[QuerySet] = [Purchase.objects.filter(q).values("member_id") for q in recorded]
    spans += [
        PurchaseReturn.objects.filter(q).values(member_id=F("purchase__member_id"))
        for q in recorded
    ]
    spans += [
        Member.objects.filter(q).values(member_id=F("pk"))
        for q in (
            Q(joined_at__gte=m0, joined_at__lt=m1),
            Q(withdrawn_at__gte=m0, withdrawn_at__lt=m1),
            Q(changed_at__gte=since),
        )
    ]
    # A purchase leaving the lapse window or the segment's dormancy window moves nothing when
    # its member has a purchase in the same channel inside both windows at the cutoff with
    # nothing returned: it counts, so they stay active, in that channel too, and not dormant
    # (the rows keep whether a member is active, not how many purchases make them so). Of
    # the 8,419 members with such a purchase on the benchmark's night, 3,005 are left.
    still_recent = Purchase.objects.filter(
        member_id=OuterRef("member_id"),
        channel=OuterRef("channel"),
        returned_total=0,
        occurred_at__gte=m1 - dt.timedelta(days=min(activity.lapse_days(), DORMANT_AFTER_DAYS)),
        occurred_at__lt=m1,
    )
    parts = [
        Purchase.objects.filter(q).exclude(Exists(still_recent)).values("member_id")
        for q in (shifted(activity.lapse_days()), shifted(DORMANT_AFTER_DAYS))
    ]
    parts += [
        Purchase.objects.filter(q).values("member_id")
        for q in (months(12), months(settings.LOYALTY_REPEAT_MONTHS))
    ]
    parts += [LedgerEntry.objects.filter(q).values("member_id") for q in recorded]
    parts.append(
        PointLot.objects.filter(expires_at__gte=m0, expires_at__lte=m1).values("member_id")
    )
    parts += [
        model.objects.filter(changed_at__gte=m0).values("member_id")
        for model in (TierChange, HomeStoreChange)
    ]
    new_stage = dt.timedelta(days=NEW_MEMBER_DAYS)
    parts.append(
        Member.objects.filter(joined_at__gte=m0 - new_stage, joined_at__lt=m1 - new_stage).values(
            member_id=F("pk")
        )
    )
    # The age dimension on the day before the cutoff: only a birthday into another band moves
    # it (of everyone's birthdays, about one in ten).
    parts.append(
        Member.objects.filter(age_band_moved(old - _DAY, new - _DAY)).values(member_id=F("pk"))
    )
    return spans, parts


def _member_ids(parts: list[QuerySet]) -> tuple[str, list]:
    """The distinct member ids of querysets of `member_id` values, as one statement."""
    sqls = [compiled(part.order_by()) for part in parts]
    union = " UNION ".join(
        f"SELECT member_id FROM ({sql}) p{i}"  # noqa: S608
        for i, (sql, _p) in enumerate(sqls)
    )
    return union, [param for _sql, params in sqls for param in params]


# --- Recomputing rows ------------------------------------------------------------------------


def _recompute(
    today: dt.date,
    *,
    among,
    mark: MemberStateMark | None = None,
    concurrent: bool = False,
    alone: Callable[[], None] | None = None,
) -> int:
    """Replace the rows of the members in `among` (None: everyone, and `mark` None) with their
    state at `today`, and their part of churn's base of each current period. The spans (and
    in a rebuild the churn bases) read the books alone: with `concurrent`, a second
    connection computes them meanwhile; otherwise this one, when they are needed."""
    if among is None:
        # The staged tables are handed over as soon as they are there; their churn bases'
        # sums, which only the totals need at the end, follow on the same connection. Its
        # work is then over (some 9 s before this one's at a million members): `alone` lets
        # other work have that core.
        def sums_then_alone(tables: tuple[str, str]) -> Sums:
            try:
                return _staged_sums(today, tables, concurrent=concurrent)
            finally:
                if alone is not None:
                    alone()

        # Its points and expiry facts come first: the rows need them as soon as this
        # connection has the channel facts.
        with alongside_steps(
            partial(_stage_facts, today, concurrent=concurrent),
            lambda _facts: _stage_spans_and_bases(today, concurrent=concurrent),
            sums_then_alone,
            concurrent=concurrent,
        ) as (facts, staged, staged_sums):
            return _recompute_with(
                today,
                among=None,
                mark=None,
                staged=staged,
                staged_sums=staged_sums,
                facts=facts,
            )
    if not concurrent:
        return _recompute_with(today, among=among, mark=mark, staged=None, alone=alone)
    # A night: the touched members' channel facts, then their rows and channel rows, then
    # those rows' sums for the totals, on one connection; their spans (of those whose spans
    # may differ), then their old rows' sums, on another. This one meanwhile keeps their
    # bases and deletes their old rows; it waits for the rows to write them (while the new
    # rows' sums are computed), and for the sums only at the end.
    members, spans_may_differ = _touched_ids(TOUCHED), _touched_ids(TOUCHED_SPANS)
    with (
        alongside_steps(
            partial(_stage_touched_rows, today, members),
            partial(_new_rows_sums, today, members),
            concurrent=True,
        ) as (rows, new_sums),
        alongside_steps(
            partial(_stage_touched_spans, spans_may_differ),
            lambda _tables: _touched_sums(mark.as_of, members),
            concurrent=True,
        ) as (staged, old_sums),
    ):
        return _recompute_with(
            today,
            among=among,
            mark=mark,
            staged=staged,
            rows=rows,
            old_sums=old_sums,
            new_sums=new_sums,
            alone=alone,
        )


@contextmanager
def _second_connection_plans(*, index_scans: bool) -> Iterator[None]:
    """The KPI statements' settings, in a transaction of the second connection."""
    with kpi_plans(index_scans=index_scans), connection.cursor() as cursor:
        # It reads only the books, which nothing locks for long. Waiting on a lock would
        # most likely be waiting on the update's own transaction, which waits for this
        # work: fail loudly rather than wait for ever.
        cursor.execute(f"SET LOCAL lock_timeout = '{int(settings.LOYALTY_KPI_LOCK_TIMEOUT_S)}s'")
        yield


def _stage_spans_and_bases(today: dt.date, *, concurrent: bool) -> tuple[str, str]:
    """Everyone's active spans (member_id, starts_at, ends_at) and churn bases of the current
    periods (MemberPeriodBase's columns) as two tables; their names. On a second
    connection (`concurrent`): committed unlogged tables, computed with the KPI statements'
    settings; otherwise temporary tables of this connection."""
    if not concurrent:
        return _stage(today, temporary=True)
    with _second_connection_plans(index_scans=False):
        return _stage(today, temporary=False)


def _stage_facts(today: dt.date, *, concurrent: bool) -> tuple[str, str]:
    """Everyone's points outstanding and points expired in the current periods at `today`
    (the state rows' facts that read the ledger) as two tables; their names. On a second
    connection (`concurrent`): committed unlogged tables; otherwise temporary ones."""
    at = local_midnight(today)
    # The expiry entries of the quarter from their covering index alone (index-only scans
    # need index scans on); the points from the members' balances and the entries since.
    tables = (
        (POINTS, outstanding_facts(at, None), nullcontext),
        (EXPIRY, _expiry_facts(today, at, None), partial(planner_settings, enable_indexscan="on")),
    )
    if not concurrent:
        for table, query, plans in tables:
            with plans():
                create_temporary(table, query, analyze=BY_MEMBER)
        return POINTS, EXPIRY
    with _second_connection_plans(index_scans=False), connection.cursor() as cursor:
        staged = tuple(f"{table}_staged" for table, _query, _plans in tables)
        for name, (_table, (sql, params), plans) in zip(staged, tables, strict=True):
            cursor.execute(f"DROP TABLE IF EXISTS {name}")  # one a failed rebuild left
            with plans():
                cursor.execute(f"CREATE UNLOGGED TABLE {name} AS {sql}", params)
            cursor.execute(f"ANALYZE {name} (member_id)")  # read by member
    return staged


def _staged_sums(today: dt.date, tables: tuple[str, str], *, concurrent: bool) -> Sums:
    """The totals of the churn bases staged in `tables` (spans, bases), where they were
    staged."""
    if not concurrent:
        return _staged_base_sums(today, *tables)
    with _second_connection_plans(index_scans=False):
        return _staged_base_sums(today, *tables)


def _touched_ids(table: str) -> list[int]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT member_id FROM {table}")  # noqa: S608
        return [row[0] for row in cursor.fetchall()]


def _stage_touched_spans(members: list[int]) -> tuple[str, None]:
    """On a second connection, for a night: the active spans of the touched `members` whose
    spans may differ, as a committed unlogged table (its name; no bases: a night keeps them
    itself)."""
    _stage_for(members, (SPANS_STAGED, _spans(_touched())))
    return SPANS_STAGED, None


def _stage_touched_rows(today: dt.date, members: list[int]) -> tuple[str, str, str]:
    """On a second connection, for a night: the touched `members`' channel facts, state
    rows and channel state rows at `today` as committed unlogged tables; their names."""
    at = local_midnight(today)
    starts = state_windows(today)
    _stage_for(
        members,
        (CHANNELS_STAGED, _channel_facts(at, starts, _touched())),
        (ROWS_STAGED, _rows(today, at, _touched(), CHANNELS_STAGED)),
        (CHANNEL_ROWS_STAGED, _channel_select(starts, ROWS_STAGED, CHANNELS_STAGED)),
    )
    return CHANNELS_STAGED, ROWS_STAGED, CHANNEL_ROWS_STAGED


def _new_rows_sums(today: dt.date, members: list[int], tables: tuple[str, str, str]) -> list[Sums]:
    """On a second connection, for a night, after `_stage_touched_rows`: the totals' sums of
    the touched `members`' new state and channel rows (the staged `tables`) at `today`; their
    churn bases' are summed by the update's own connection, which keeps them."""
    _channels, rows, channel_rows = tables
    with _touched_elsewhere(members):
        return totals_row_sums(as_of=today, members=TOUCHED, rows=rows, channel_rows=channel_rows)


def _touched_sums(as_of: dt.date, members: list[int]) -> list[Sums]:
    """On a second connection, for a night: the totals' sums over the touched `members`'
    rows as they were at cutoff `as_of` (committed: the night's transaction has changed
    nothing it can see)."""
    with _touched_elsewhere(members):
        return totals_sums(as_of=as_of, members=TOUCHED)


@contextmanager
def _touched_elsewhere(members: list[int]) -> Iterator[None]:
    """On a second connection: the KPI statements' settings, and the `members` as this
    connection's TOUCHED table while the block runs."""
    with _second_connection_plans(index_scans=True):
        create_temporary(TOUCHED, ("SELECT UNNEST(%s::bigint[]) AS member_id", [members]))
        yield
        drop_temporary(TOUCHED)


def _stage_for(members: list[int], *tables: tuple[str, tuple[str, list]]) -> None:
    """Each (table, query) in turn: the query over the `members` (this connection's TOUCHED)
    as committed unlogged `table` (a later query may read an earlier table)."""
    with _touched_elsewhere(members), connection.cursor() as cursor:
        for table, (sql, params) in tables:
            cursor.execute(f"DROP TABLE IF EXISTS {table}")  # one a failed update left
            cursor.execute(f"CREATE UNLOGGED TABLE {table} AS {sql}", params)
            cursor.execute(f"ANALYZE {table} (member_id)")  # read by member


def _stage(today: dt.date, *, temporary: bool) -> tuple[str, str]:
    spans, bases = (SPANS, BASES) if temporary else (SPANS_STAGED, BASES_STAGED)
    kind = "TEMPORARY" if temporary else "UNLOGGED"
    q = connection.ops.quote_name
    # Declared, not copied from the state's table: the rebuild holds that one locked.
    columns = ", ".join(f"{q(f.column)} {f.db_type(connection)}" for f in _BASE_FIELDS)
    sql, params = _spans(None)
    with connection.cursor() as cursor:
        for table in (spans, bases):  # one a failed rebuild left
            cursor.execute(f"DROP TABLE IF EXISTS {table}")
        # The purchases in member and time order from the purchase index (no sort of
        # millions of rows; an index-only scan needs index scans on), and the members hashed
        # once for the islands (probed per island, the estimate of a few islands chose).
        with planner_settings(enable_indexscan="on", enable_nestloop="off"):
            cursor.execute(f"CREATE {kind} TABLE {spans} AS {sql}", params)
        cursor.execute(f"CREATE {kind} TABLE {bases} ({columns})")
        if connection.vendor == "postgresql":
            cursor.execute(f"ANALYZE {spans}")
    _period_bases(today, None, spans=spans, into=bases)
    if connection.vendor == "postgresql":
        # Their sums group by the dimensions: planned without statistics (an estimate of a
        # few rows), PostgreSQL sorted each period's 700,000 bases instead of hashing them
        # (4.7 s, not 1.6 s).
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {bases}")
    return spans, bases


def _active_at(spans: str, at: dt.datetime) -> tuple[str, list]:
    """The members active at instant `at`: those with a span in table `spans` covering it."""
    instant = connection.ops.adapt_datetimefield_value(at)
    return (
        f"SELECT DISTINCT member_id FROM {spans} WHERE starts_at < %s AND ends_at >= %s",  # noqa: S608
        [instant, instant],
    )


def _staged_base_sums(today: dt.date, spans: str, bases: str) -> Sums:
    """The totals of the churn bases in table `bases` (metrics.member_state_totals): lost
    unless active at the cutoff, read from the spans (active at T is a span covering T: the
    state row's `active` by the same definition), so they need nothing from the rows."""
    q = connection.ops.quote_name
    create_temporary(ACTIVE, _active_at(spans, local_midnight(today)))
    dims = ", ".join(f"b.{q(f'd_{name}')} AS {name}" for name in DIMENSIONS)

    def facts(period: str, start: dt.date) -> tuple[str, list]:
        return (
            f"SELECT {dims}, 1 AS base,"  # noqa: S608
            " CASE WHEN a.member_id IS NULL THEN 1 ELSE 0 END AS lost"
            f" FROM {bases} b LEFT JOIN {ACTIVE} a ON a.member_id = b.member_id"
            " WHERE b.period = %s AND b.start = %s",
            [period, start],
        )

    sums = base_sums(current_starts(today), facts)
    drop_temporary(ACTIVE)
    return sums


def _recompute_with(
    today: dt.date,
    *,
    among,
    mark,
    staged,
    rows=None,
    old_sums=None,
    new_sums=None,
    staged_sums=None,
    facts=None,
    alone=None,
) -> int:
    """`staged`: a function giving the names of the tables of the members' spans and (in a
    rebuild) churn bases, computed elsewhere (None: computed here), and `staged_sums` one
    giving the bases' sums; `rows`: one giving the names of the tables of a night's members'
    channel facts, state rows and channel state rows (None: computed here); `old_sums`, one
    giving the sums of their rows as they were (None: summed here), `new_sums` of their new
    state and channel rows (None: summed here); `alone`, called once a night's work on other
    connections is (about) over."""
    at = local_midnight(today)
    starts = state_windows(today)
    q = connection.ops.quote_name
    if among is not None:  # their old rows go out of the totals, their bases are kept
        if old_sums is None:
            totals_move(as_of=mark.as_of, members=TOUCHED, sign=-1)
        _keep_bases(today, mark)
    channel_facts, row_table, channel_rows = CHANNELS, ROWS, None
    if rows is None:
        # A year of purchases in member order from the purchase index (index-only: no sort
        # of millions of rows by member; a night's few members are probed by it anyway).
        with planner_settings(enable_indexscan="on"):
            create_temporary(CHANNELS, _channel_facts(at, starts, among), analyze=BY_MEMBER)
        if among is not None:  # a rebuild writes its rows straight into the emptied table
            create_temporary(ROWS, _rows(today, at, among, CHANNELS), analyze=BY_MEMBER)
    with connection.cursor() as cursor:
        if among is None:
            # A rebuild empties the tables: PostgreSQL's TRUNCATE gives them new files (a
            # DELETE leaves every row dead for vacuum to find, and the next scans read them).
            empty = "TRUNCATE" if connection.vendor == "postgresql" else "DELETE FROM"
            for model in _STATE_TABLES:
                cursor.execute(f"{empty} {q(model._meta.db_table)}")
        else:
            for model, members in (
                (MemberState, TOUCHED),
                (MemberChannelState, TOUCHED),
                (MemberActiveSpan, TOUCHED_SPANS),
            ):
                cursor.execute(
                    f"DELETE FROM {q(model._meta.db_table)} WHERE member_id IN"  # noqa: S608
                    f" (SELECT member_id FROM {members})"
                )
            _drop_ended_bases(cursor, starts)
        if rows is not None:
            channel_facts, row_table, channel_rows = rows()  # waits for the other connection
        if alone is not None and among is not None:
            alone()
        # A rebuild fills emptied tables: their indexes are built once, after the rows.
        loading = indexes_built_after(*_STATE_TABLES) if among is None else nullcontext()
        with loading:
            members = _write_rows(
                cursor,
                today,
                starts,
                among,
                staged,
                channel_facts,
                row_table,
                facts=facts,
                channel_rows=channel_rows,
            )
        if among is None and connection.vendor == "postgresql":
            # A rebuild rewrote every table: planned on the old statistics (or none, before
            # autovacuum came by), LTV's churn probed the state once per member per worker
            # (2.8 s -> 5.9 s at a million members).
            for model in _STATE_TABLES:
                cursor.execute(f"ANALYZE {q(model._meta.db_table)}")
    if among is None:
        totals_rebuild(as_of=today, bases=staged_sums())
    else:
        if old_sums is not None:  # out before the roll, which moves them on with the rest
            totals_add(old_sums(), sign=-1)
        totals_roll(old=mark.as_of, new=today)
        if new_sums is None:
            totals_move(
                as_of=today,
                members=TOUCHED,
                sign=1,
                rows=row_table,
                channel_rows=channel_rows or CHANNEL_ROWS,
            )
        else:
            bases = totals_base_sums(as_of=today, members=TOUCHED, rows=row_table)
            totals_add([*new_sums(), bases], sign=1)
        totals_compact()
    if rows is not None:
        for table in (channel_facts, row_table, channel_rows):
            drop_temporary(table)
    if facts is not None:
        for table in facts():
            drop_temporary(table)
    if staged is not None:  # read to the end (their sums too)
        for table in staged():
            if table is not None:
                drop_temporary(table)
    return members


def _drop_ended_bases(cursor, starts: dict[str, dt.date]) -> None:
    """A night's: the kept churn bases of periods that are over (a rebuild writes the
    current periods' alone), in one pass over the table (no index leads with the period: a
    statement per period read the whole table four times)."""
    q = connection.ops.quote_name
    cursor.execute(
        f"DELETE FROM {q(MemberPeriodBase._meta.db_table)} WHERE "  # noqa: S608
        + " OR ".join(["(period = %s AND start < %s)"] * len(PERIODS)),
        [value for period in PERIODS for value in (period, starts[period])],
    )
    if connection.vendor == "postgresql":
        # The statistics must see the night's bases (kept before this): planned as if the
        # current period had none, summing the touched members' took two minutes, not one
        # second.
        cursor.execute(f"ANALYZE {q(MemberPeriodBase._meta.db_table)}")


_STATE_TABLES = (MemberState, MemberChannelState, MemberActiveSpan, MemberPeriodBase)


def _write_rows(
    cursor,
    today: dt.date,
    starts: dict[str, dt.date],
    among,
    staged,
    channels: str,
    row_table: str = ROWS,
    *,
    facts=None,
    channel_rows: str | None = None,
) -> int:
    """Insert the recomputed members' rows (their old ones gone; a night's from table
    `row_table`), their spans, channel rows (from table `channel_rows`, or from their facts
    in table `channels`) and, in a rebuild, everyone's churn bases (the spans and bases from
    the tables `staged()` names). Returns the number of members."""
    q = connection.ops.quote_name
    names = ", ".join(q(f.column) for f in MemberState._meta.concrete_fields)
    state = q(MemberState._meta.db_table)
    if among is None:
        # Everyone's rows go straight into the emptied table (a temporary table of them,
        # some 800 MB at a million members, would be written and read again), and the
        # spans and channel rows read it.
        rows_sql, rows_params = _rows(today, local_midnight(today), None, channels, facts())
        cursor.execute(
            f"INSERT INTO {state} ({names}) SELECT {names} FROM ({rows_sql}) r",  # noqa: S608
            rows_params,
        )
        rows = state
    else:
        cursor.execute(f"INSERT INTO {state} ({names}) SELECT {names} FROM {row_table}")  # noqa: S608
        rows = row_table
    members = cursor.rowcount
    if staged is None:
        spans_sql, spans_params = _spans(None if among is None else _touched(TOUCHED_SPANS))
    else:
        spans, bases = staged()  # waits for the second connection's work
        spans_sql, spans_params = f"SELECT member_id, starts_at, ends_at FROM {spans}", []  # noqa: S608
    cursor.execute(
        f"INSERT INTO {q(MemberActiveSpan._meta.db_table)}"  # noqa: S608
        " (member_id, starts_at, ends_at, last_purchase_at)"
        f" SELECT s.member_id, s.starts_at, s.ends_at, r.last_purchase_at FROM ({spans_sql}) s"
        f" JOIN {rows} r ON r.member_id = s.member_id",
        spans_params,
    )
    if among is not None:  # the other touched members' spans stay, with their last purchase
        span_table = q(MemberActiveSpan._meta.db_table)
        cursor.execute(
            f"UPDATE {span_table} AS s SET last_purchase_at = r.last_purchase_at"  # noqa: S608
            f" FROM {rows} r WHERE s.member_id = r.member_id AND r.member_id NOT IN"
            f" (SELECT member_id FROM {TOUCHED_SPANS}) AND COALESCE("  # they differ:
            " s.last_purchase_at <> r.last_purchase_at,"
            " s.last_purchase_at IS NOT NULL OR r.last_purchase_at IS NOT NULL)"
        )
    channel_names = ", ".join(q(c) for c in _channel_columns())
    selected, params = _channel_select(starts, rows, channels)
    if channel_rows is None and among is not None:  # kept for the totals' sums of them
        create_temporary(CHANNEL_ROWS, (selected, params), analyze=BY_MEMBER)
        channel_rows = CHANNEL_ROWS
    if channel_rows is not None:
        selected, params = f"SELECT {channel_names} FROM {channel_rows}", []  # noqa: S608
    cursor.execute(
        f"INSERT INTO {q(MemberChannelState._meta.db_table)} ({channel_names}) {selected}",  # noqa: S608
        params,
    )
    if staged is not None and bases is not None:
        columns = ", ".join(q(c) for c in _BASE_COLUMNS)
        cursor.execute(
            f"INSERT INTO {q(MemberPeriodBase._meta.db_table)} ({columns})"  # noqa: S608
            f" SELECT {columns} FROM {bases}"
        )
    return members


_BASE_FIELDS = MemberPeriodBase._meta.concrete_fields
_BASE_COLUMNS = [f.column for f in _BASE_FIELDS]


def _channel_columns() -> list[str]:
    return [f.column for f in MemberChannelState._meta.concrete_fields]


def _channel_select(
    starts: dict[str, dt.date], rows: str = ROWS, channels: str = CHANNELS
) -> tuple[str, list]:
    """The channel state rows of the members being recomputed, from their channel facts
    (table `channels`) and their state rows (table `rows`)."""
    q = connection.ops.quote_name
    columns = _channel_columns()
    selected, params = [], []
    for c in columns:
        if c == "active":
            selected.append("CASE WHEN r.is_member = 1 AND c.recent > 0 THEN 1 ELSE 0 END")
        elif c.endswith("_start"):
            selected.append("%s")
            params.append(starts[c.removesuffix("_start")])
        else:
            selected.append(f"c.{q(c)}")
    selected = [f"{value} AS {q(c)}" for value, c in zip(selected, columns, strict=True)]
    sql = (
        f"SELECT {', '.join(selected)} FROM {channels} c"  # noqa: S608
        f" JOIN {rows} r ON r.member_id = c.member_id WHERE c.channel IS NOT NULL"
    )
    return sql, params


def members_recorded_since_update(member_ids: list[int]) -> list[int]:
    """Of `member_ids`, those with rows recorded since the state's last update began reading
    (purchases, returns and ledger entries by `created_at`, profiles by `Member.changed_at`):
    the state cannot hold those yet, the next night takes them in (a back-dated purchase
    through the API, say). Without the night's MARGIN: a member whose difference has no
    such row is reported as written around the services."""
    from loyalty.models import LedgerEntry, Purchase, PurchaseReturn
    from members.models import Member

    mark = MemberStateMark.objects.first()
    if mark is None or not member_ids:
        return []
    since = mark.read_at
    found: set[int] = set()
    for queryset in (
        Purchase.objects.filter(member_id__in=member_ids, created_at__gte=since).values_list(
            "member_id", flat=True
        ),
        LedgerEntry.objects.filter(member_id__in=member_ids, created_at__gte=since).values_list(
            "member_id", flat=True
        ),
        PurchaseReturn.objects.filter(
            purchase__member_id__in=member_ids, created_at__gte=since
        ).values_list("purchase__member_id", flat=True),
        Member.objects.filter(pk__in=member_ids, changed_at__gte=since).values_list(
            "pk", flat=True
        ),
    ):
        found.update(queryset)
    return sorted(found)


def member_state_differences(today: dt.date) -> list[int]:
    """Ids of the members whose kept state differs from their state rebuilt from the books
    (the state must be at `today`): empty when the state is right. A period's measures in a
    row of an earlier period count as none (as the totals read them). What happened after
    the cutoff is left out on both sides: members who joined after it (a row for them, if
    any, says they were not members yet), and the active spans after it (no KPI asks who
    was active after the cutoff; a purchase since then may lengthen a span the state kept
    as it was). Writes nothing."""
    q = connection.ops.quote_name
    at = local_midnight(today)
    cutoff = connection.ops.adapt_datetimefield_value(at)
    starts = state_windows(today)

    def effective(columns: list[str]) -> tuple[str, list]:
        selected, params = [], []
        for c in columns:
            period = c.split("_", 1)[0]
            if c.endswith("_start"):
                selected.append("%s")
                params.append(starts[period])
            elif period in PERIODS:
                selected.append(f"CASE WHEN {period}_start = %s THEN {q(c)} ELSE 0 END")
                params.append(starts[period])
            else:
                selected.append(q(c))
        return ", ".join(selected), params

    row_columns = [f.column for f in MemberState._meta.concrete_fields if f.column != "version"]
    kept_rows, row_params = effective(row_columns)
    row_params.append(cutoff)  # joined before the cutoff
    kept_channels, channel_params = effective(_channel_columns())
    rebuilt_rows = ", ".join(q(c) for c in row_columns)
    state = q(MemberState._meta.db_table)
    channel_state = q(MemberChannelState._meta.db_table)
    with transaction.atomic():
        create_temporary(CHANNELS, _channel_facts(at, starts, None))
        create_temporary(ROWS, _rows(today, at, None))
        channels, params = _channel_select(starts)
        spans_sql, spans_params = _spans(None)
        create_temporary(
            SPANS,
            (
                "SELECT s.member_id, s.starts_at, s.ends_at, r.last_purchase_at"  # noqa: S608
                f" FROM ({spans_sql}) s JOIN {ROWS} r ON r.member_id = s.member_id",
                spans_params,
            ),
        )
        # The spans up to the cutoff: those begun before it, ended at it at the latest.
        least = "MIN" if connection.vendor == "sqlite" else "LEAST"
        span_columns = f"member_id, starts_at, {least}(ends_at, %s), last_purchase_at"
        spans, spans_state = SPANS, q(MemberActiveSpan._meta.db_table)
        joined = "joined_at < %s"
        begun = "starts_at < %s"
        span_params = [cutoff, cutoff]
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT member_id FROM (SELECT {rebuilt_rows} FROM {ROWS} WHERE {joined}"  # noqa: S608
                f" EXCEPT SELECT {kept_rows} FROM {state} WHERE {joined}) a"
                f" UNION SELECT member_id FROM (SELECT {kept_rows} FROM {state} WHERE {joined}"
                f" EXCEPT SELECT {rebuilt_rows} FROM {ROWS} WHERE {joined}) b"
                f" UNION SELECT member_id FROM ({channels}"
                f" EXCEPT SELECT {kept_channels} FROM {channel_state}) c"
                f" UNION SELECT member_id FROM (SELECT {kept_channels} FROM {channel_state}"
                f" EXCEPT {channels}) d"
                f" UNION SELECT member_id FROM (SELECT {span_columns} FROM {spans} WHERE {begun}"
                f" EXCEPT SELECT {span_columns} FROM {spans_state} WHERE {begun}) e"
                f" UNION SELECT member_id FROM (SELECT {span_columns} FROM {spans_state}"
                f" WHERE {begun} EXCEPT SELECT {span_columns} FROM {spans} WHERE {begun}) f",
                [
                    cutoff,
                    *row_params,
                    *row_params,
                    cutoff,
                    *params,
                    *channel_params,
                    *channel_params,
                    *params,
                    *span_params,
                    *span_params,
                    *span_params,
                    *span_params,
                ],
            )
            differing = sorted(row[0] for row in cursor.fetchall())
        for table in (CHANNELS, ROWS, SPANS):
            drop_temporary(table)
    return differing


FOREVER = dt.datetime(9999, 12, 31, tzinfo=dt.UTC)


def _spans(among) -> tuple[str, list]:
    """The active spans of the members in `among` (None: everyone): per purchase, the
    instants X at which it makes its member active (activity.active_purchases at X: after the
    purchase and after joining, within the lapse window, not after the return that made it a
    full return, not after withdrawing), merged into islands per member.

    The purchases' intervals are merged first, unclipped: a member's islands are the
    connected parts of the union of their intervals, and clipping that union to the member's
    membership [joined, withdrawn) clips each island (an island meets the membership in one
    interval, or none). So the members are joined to the islands (about 1.3 million at a
    million members), not to every purchase. The islands come from one ordered pass over
    each member's purchases (by time: the purchase index's order): a purchase ends an island
    when the next one starts after everything before it has ended (`reach`, the running
    latest end; touching intervals merge); the island then starts where the previous one's
    next purchase did, or at the member's first purchase."""
    from loyalty.models import Purchase, PurchaseReturn
    from members.models import Member

    last_return = (
        PurchaseReturn.objects.filter(purchase=OuterRef("pk"))
        .order_by()
        .values("purchase")
        .annotate(at=Max("occurred_at"))
        .values("at")
    )
    fully_returned = Case(
        When(Q(total__gt=0) & Q(returned_total__gte=F("total")), then=Subquery(last_return)),
        default=V(FOREVER),
    )
    purchases, members = Purchase.objects.order_by(), Member.objects.order_by()
    if among is not None:
        purchases = purchases.filter(member_id__in=among)
        members = members.filter(pk__in=among)
    intervals = (
        purchases.annotate(
            e=Least(
                F("occurred_at") + dt.timedelta(days=activity.lapse_days()),
                Coalesce(fully_returned, V(FOREVER)),
            )
        )
        .filter(occurred_at__lt=F("e"))
        .values("member_id", "occurred_at", "e")
    )
    intervals_sql, intervals_params = compiled(intervals)
    members_sql, members_params = compiled(members.values("id", "joined_at", "withdrawn_at"))
    postgres = connection.vendor == "postgresql"
    greatest, least = ("GREATEST", "LEAST") if postgres else ("MAX", "MIN")
    forever = connection.ops.adapt_datetimefield_value(FOREVER)
    starts = f"{greatest}(g.s, m.joined_at)"
    ends = f"{least}(g.e, COALESCE(m.withdrawn_at, %s))"
    by_time = "PARTITION BY member_id ORDER BY occurred_at"
    return (
        f"SELECT g.member_id, {starts} AS starts_at, {ends} AS ends_at FROM ("  # noqa: S608
        f" SELECT member_id, COALESCE(LAG(next_a) OVER ({by_time}), first_a) AS s, reach AS e"
        " FROM (SELECT member_id, occurred_at, MAX(e) OVER w AS reach,"
        " LEAD(occurred_at) OVER w AS next_a, MIN(occurred_at) OVER w AS first_a"
        f" FROM ({intervals_sql}) iv WINDOW w AS ({by_time} ROWS UNBOUNDED PRECEDING)) o"
        " WHERE next_a IS NULL OR next_a > reach) g"
        f" JOIN ({members_sql}) m ON m.id = g.member_id WHERE {starts} < {ends}",
        [forever, *intervals_params, *members_params, forever],
    )


def _channel_facts(at: dt.datetime, starts: dict[str, dt.date], among) -> tuple[str, list]:
    """One row per member and channel, and one per member over all channels (`channel`
    NULL): purchases counting at `at` (and their net amount at `at`) in each window the state
    keeps, and in the lapse window (`recent`). PostgreSQL sums both in one pass over the
    purchases in member order (grouping sets): summing the channels' rows again per member
    sorted 1.5 million rows at a million members."""
    from loyalty.models import Purchase

    lapse_from = at - dt.timedelta(days=activity.lapse_days())
    bounds = {key: local_midnight(start) for key, start in starts.items()}
    widest = min([lapse_from, *bounds.values()])
    purchases = activity.purchases_counted(widest, at, at=at)
    if among is not None:
        purchases = purchases.filter(member_id__in=among)
    net = activity.net_amount_at(at)
    sums = {
        "recent": Count("id", filter=Q(occurred_at__gte=lapse_from)),
        "last_at": Max("occurred_at"),
    }
    for key, start in bounds.items():
        sums[f"{key}_purchases"] = Count("id", filter=Q(occurred_at__gte=start))
        # bigint, not SUM's numeric: the rows sum them again per member, faster so.
        sums[f"{key}_net"] = Cast(
            Sum(net, filter=Q(occurred_at__gte=start), default=0), BigIntegerField()
        )
    per_channel, params = compiled(purchases.values("member_id", "channel").annotate(**sums))
    if connection.vendor == "postgresql":
        q = connection.ops.quote_name
        member, channel = (f"{q(Purchase._meta.db_table)}.{q(c)}" for c in ("member_id", "channel"))
        head, grouped = per_channel.rsplit("GROUP BY", 1)
        if ")" in grouped:  # not the statement's own GROUP BY: the SQL has changed shape
            raise RuntimeError("unexpected channel facts SQL")
        sets = f"GROUP BY GROUPING SETS (({member}, {channel}), ({member}))"
        return f"{head}{sets}", params
    per_member, member_params = compiled(
        purchases.values("member_id").annotate(channel=V(None, CharField()), **sums)
    )
    columns = ", ".join(["member_id", "channel", *sums])
    return (
        f"SELECT {columns} FROM ({per_channel}) c"  # noqa: S608
        f" UNION ALL SELECT {columns} FROM ({per_member}) m",
        [*params, *member_params],
    )


def _rows(
    today: dt.date,
    at: dt.datetime,
    among,
    channels: str = CHANNELS,
    facts: tuple[str, str] | None = None,
) -> tuple[str, list]:
    """The state rows at `today` of the members in `among` (None: everyone), with their
    channel facts from table `channels`, and their points and expiry facts from the tables
    `facts` names (None: read here)."""
    q = connection.ops.quote_name
    new_stage = at - dt.timedelta(days=NEW_MEMBER_DAYS)
    members = members_at(today - _DAY, DIMENSIONS, among).annotate(
        m_joined=F("joined_at"),
        m_birth=F("birth_date"),
        m_is_member=Case(
            When(activity.member_was_member(at), then=V(1)),
            default=V(0),
            output_field=IntegerField(),
        ),
        m_past_new=Case(
            When(joined_at__lt=new_stage, then=V(1)), default=V(0), output_field=IntegerField()
        ),
    )
    members_sql, members_params = compiled(members)
    if facts is None:
        points_sql, points_params = outstanding_facts(at, among)
        expiry_sql, expiry_params = _expiry_facts(today, at, among)
    else:
        points_sql, expiry_sql = (f"SELECT * FROM {table}" for table in facts)  # noqa: S608
        points_params, expiry_params = [], []
    starts = state_windows(today)
    per_member = ", ".join(q(c) for c in ("recent", *PURCHASE_COLUMNS, "last_at"))
    start_params = []
    values = []
    for c in _STATE_PURCHASE_FIELDS:
        if c.endswith("_start"):
            values.append(f"%s AS {q(c)}")
            start_params.append(starts[c.removesuffix("_start")])
        else:
            values.append(f"COALESCE(p.{q(c)}, 0) AS {q(c)}")
    values.append("CASE WHEN b.member_id IS NULL THEN 0 ELSE 1 END AS month_bought")
    bought_sql, bought_params = _month_buyers(today, at, among)
    for c in EXPIRY_COLUMNS:
        value = f"COALESCE(x.{q(c)}, 0)"
        if c.endswith("_expirer"):
            value = f"CASE WHEN {value} > 0 THEN 1 ELSE 0 END"
        values.append(f"{value} AS {q(c)}")
    purchase_values = ", ".join(values)
    sql = (
        f"SELECT m.{q('id')} AS member_id, %s AS version, "  # noqa: S608
        + ", ".join(f"m.{q(f'd_{name}')} AS {q(f'd_{name}')}" for name in DIMENSIONS)
        + ", m.m_joined AS joined_at, m.m_birth AS birth_date, m.m_is_member AS is_member,"
        " CASE WHEN m.m_is_member = 1 AND COALESCE(p.recent, 0) > 0 THEN 1 ELSE 0 END AS active,"
        " CASE WHEN m.m_is_member = 1 AND m.m_past_new = 1 AND COALESCE(p.recent, 0) = 0"
        " THEN 1 ELSE 0 END AS dormant,"
        " COALESCE(o.points, 0) AS points,"
        " CASE WHEN o.member_id IS NULL THEN 0 ELSE 1 END AS points_row,"
        " p.last_at AS last_purchase_at, " + purchase_values + f" FROM ({members_sql}) m"  # noqa: S608
        f" LEFT JOIN (SELECT member_id, {per_member} FROM {channels} WHERE channel IS NULL) p"
        f" ON p.member_id = m.{q('id')}"
        f" LEFT JOIN ({points_sql}) o ON o.member_id = m.{q('id')}"
        f" LEFT JOIN ({bought_sql}) b ON b.member_id = m.{q('id')}"
        f" LEFT JOIN ({expiry_sql}) x ON x.member_id = m.{q('id')}"
    )
    params = [*members_params, *points_params, *bought_params, *expiry_params]
    return sql, [today, *start_params, *params]


def _month_buyers(today: dt.date, at: dt.datetime, among) -> tuple[str, list]:
    """The members with a purchase in the current month before `at`, whatever became of it
    (cohort retention's retained members)."""
    from loyalty.models import Purchase

    purchases = Purchase.objects.filter(
        occurred_at__gte=local_midnight(state_windows(today)["month"]), occurred_at__lt=at
    )
    if among is not None:
        purchases = purchases.filter(member_id__in=among)
    return compiled(purchases.order_by().values("member_id").distinct())


_STATE_PURCHASE_FIELDS = [
    f.column
    for f in MemberState._meta.concrete_fields
    if f.column.startswith(("y_", "r_", *(f"{p}_" for p in PERIODS)))
    and f.column not in (*EXPIRY_COLUMNS, "month_bought")
]


def _expiry_facts(today: dt.date, at: dt.datetime, among) -> tuple[str, list]:
    """Per member with points expired in a current period up to `at`, as points_expired
    counts them (expiry entries that occurred since the period's start, recording an expiry
    after it and by `at`): the points (<p>_expired) and the entries (<p>_expirer)."""
    from loyalty.models import LedgerEntry

    starts = {p: local_midnight(s) for p, s in state_windows(today).items() if p in PERIODS}
    widest = min(starts.values())
    entries = LedgerEntry.objects.filter(expired_in(widest, at))
    if among is not None:
        entries = entries.filter(member_id__in=among)
    sums = {}
    for period, start in starts.items():
        window = expired_in(start, at)
        sums[f"{period}_expired"] = -Sum("points", filter=window, default=0)
        sums[f"{period}_expirer"] = Count("id", filter=window)
    return compiled(entries.order_by().values("member_id").annotate(**sums))


def _keep_bases(today: dt.date, mark: MemberStateMark) -> None:
    """Before the touched members' rows are replaced: their part of churn's base of each
    current period. A member whose row is older than the period's start gets it from the row
    (it still describes them at the start); one with a base from an earlier night keeps it;
    except for the members with rows recorded late (business time before the night's day) or
    a changed profile, whose base is read from the books again (it may have moved)."""
    from loyalty.models import LedgerEntry, Purchase, PurchaseReturn
    from members.models import Member

    since, m0 = mark.read_at - MARGIN, local_midnight(mark.as_of)
    late = [
        model.objects.filter(created_at__gte=since, occurred_at__lt=m0).values("member_id")
        for model in (Purchase, LedgerEntry)
    ]
    late.append(
        PurchaseReturn.objects.filter(created_at__gte=since, occurred_at__lt=m0).values(
            member_id=F("purchase__member_id")
        )
    )
    late.append(Member.objects.filter(changed_at__gte=since).values(member_id=F("pk")))
    create_temporary(LATE, _member_ids(late))
    q = connection.ops.quote_name
    table, state = q(MemberPeriodBase._meta.db_table), q(MemberState._meta.db_table)
    columns = ", ".join(q(f"d_{name}") for name in DIMENSIONS)
    starts = current_starts(today)
    # One pass over their rows for every current period (the periods as a derived table).
    periods = " UNION ALL ".join(["SELECT %s AS period, %s AS start"] * len(starts))
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (member_id, period, start, {columns})"  # noqa: S608
            f" SELECT s.member_id, p.period, p.start, {columns} FROM {state} s"
            f" JOIN ({periods}) p ON s.version <= p.start"
            f" WHERE s.member_id IN (SELECT member_id FROM {TOUCHED})"
            f" AND s.member_id NOT IN (SELECT member_id FROM {LATE}) AND s.active = 1",
            [value for period, start in starts.items() for value in (period, start)],
        )
    _period_bases(today, RawSQL(f"SELECT member_id FROM {LATE}", []))  # noqa: S608, S611


def _period_bases(
    today: dt.date, among, *, spans: str | None = None, into: str | None = None
) -> None:
    """Churn's base of each current period among the members being recomputed (None:
    everyone): the members active at the period's start, with their dimensions on the day
    before. Their earlier rows for these periods go first. A rebuild (None) reads who was
    active from everyone's active spans (table `spans`: one table, not the purchases and
    their returns again) and writes table `into`; a night's few members read the books,
    their spans not being rewritten yet."""
    q = connection.ops.quote_name
    table = into or q(MemberPeriodBase._meta.db_table)
    columns = ", ".join(q(f"d_{name}") for name in DIMENSIONS)
    by_start: dict[dt.date, list[str]] = {}
    for period in PERIODS:
        by_start.setdefault(state_windows(today)[period], []).append(period)
    with connection.cursor() as cursor:
        for start, periods in by_start.items():
            if among is None:
                active = _active_at(spans, local_midnight(start))
            else:
                active = activity.active_purchases(local_midnight(start))
                active = compiled(active.filter(member_id__in=among).values("member_id").distinct())
                cursor.execute(
                    f"DELETE FROM {table} WHERE start = %s AND member_id IN (%s)"  # noqa: S608
                    % ("%s", among.sql),
                    [start],
                )
            # The base's members first: the dimensions' lookups then probe one small set.
            create_temporary(BASE, active)
            members_sql, params = compiled(
                members_at(
                    start - _DAY,
                    DIMENSIONS,
                    among=RawSQL(f"SELECT member_id FROM {BASE}", []),  # noqa: S608, S611
                    active=True,  # active at the start
                )
            )
            for period in periods:
                cursor.execute(
                    f"INSERT INTO {table} (member_id, period, start, {columns})"  # noqa: S608
                    f" SELECT m.{q('id')}, %s, %s, {columns} FROM ({members_sql}) m",
                    [period, start, *params],
                )
