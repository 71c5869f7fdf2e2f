"""Points outstanding (the liability) and points expired (docs/metrics.md, "Points").

Both read the ledger (LedgerEntry, PointLot, LotMovement); points outstanding starts from the
members' cached balances, which the ledger keeps equal to its sums (see outstanding_facts).

- points_outstanding at the end E (as_of): the points members hold and may still use, i.e.
  the sum of the ledger entries in state available or pending that occurred before E, less
  what was left at E of the lots whose expiry had passed by E (expires_at <= E). The nightly
  expiry job writes its `expire` entries after midnight, so without that correction every
  day's figure would still hold the points that expired that night. A lot's remainder at E
  is its points plus its movements before E. Withdrawn members' points count until they
  expire, as they stay in the ledger. n = members holding points.
- points_expired in the period: the points the ledger expired whose expiry (the lot's
  expires_at, recorded on the `expire` entry) fell in the period (S, E]: attributed to when
  they stopped being valid, not to when the job wrote them. n = members who lost points.
Sliced by the member's dimensions on the last measured day.
"""

import datetime as dt
from decimal import Decimal

from django.db.models import BigIntegerField, F, OuterRef, Q, Subquery, Sum
from django.db.models import Value as V
from django.db.models.functions import Coalesce
from django.utils.translation import gettext_noop

from . import state
from .base import Kpi, Value, Window, register
from .rollup import compiled, rollup, whole
from .segments import DIMENSIONS, local_midnight

_DAY = dt.timedelta(days=1)
HELD = ("available", "pending")


def outstanding_facts(at: dt.datetime, among=None):
    """(sql, params): one row per member with `points` outstanding at `at`; with `among`
    (member ids), only those members."""
    from loyalty.models import LedgerEntry, LotMovement, PointLot
    from members.models import Member

    # Held at `at` = held now (the members' cached balances, which the ledger keeps equal to
    # the sums of their available and pending entries in the same transaction: check_ledger)
    # less the held entries that occurred since `at`. Reading a million balances and the
    # entries since `at` costs what the new data costs; summing the whole ledger does not.
    held_now = (
        Member.objects.exclude(points_available=0, points_pending=0)
        .order_by()
        .values(member_id=F("pk"))
        .annotate(points=F("points_available") + F("points_pending"))
    )
    held_since = (
        LedgerEntry.objects.filter(state__in=HELD, occurred_at__gte=at)
        .order_by()
        .values("member_id")
        .annotate(points=-Sum("points"))
    )
    moved_before = (
        LotMovement.objects.filter(lot=OuterRef("pk"), entry__occurred_at__lt=at)
        .order_by()
        .values("lot")
        .annotate(points=Sum("points"))
        .values("points")
    )
    remainder = -Sum(
        F("points") + Coalesce(Subquery(moved_before, output_field=BigIntegerField()), V(0))
    )
    # The lots past their expiry at `at` that still held points then: those still open today
    # (the partial index lot_open_by_expiry finds them), and those emptied since `at` (by the
    # expiry job after midnight, or a reversal): each has a movement after `at`. Disjoint.
    touched_since = LotMovement.objects.filter(
        entry__occurred_at__gte=at, lot__expires_at__lte=at
    ).values("lot_id")
    open_lots = PointLot.objects.filter(remaining__gt=0, expires_at__lte=at)
    emptied = PointLot.objects.filter(remaining=0, pk__in=touched_since)
    parts = [held_now, held_since] + [
        lots.filter(entry__occurred_at__lt=at)
        .order_by()
        .values("member_id")
        .annotate(points=remainder)
        for lots in (open_lots, emptied)
    ]
    if among is not None:
        parts = [part.filter(member_id__in=among) for part in parts]
    # Compiled querysets only; their values travel as parameters.
    compiled_parts = [compiled(part) for part in parts]
    union = " UNION ALL ".join(
        f"SELECT * FROM ({sql}) p{i}"  # noqa: S608
        for i, (sql, _p) in enumerate(compiled_parts)
    )
    sql = f"SELECT u.member_id, SUM(u.points) AS points FROM ({union}) u GROUP BY u.member_id"  # noqa: S608
    return sql, [param for _sql, params in compiled_parts for param in params]


def points_outstanding_compute(window: Window) -> list[Value]:
    kept = state.points(window.as_of)
    if kept is not None:
        return [
            Value(segment=segment, value=Decimal(points), n=holders)
            for segment, (points, holders) in kept.items()
        ]
    rows = rollup(
        facts=outstanding_facts(local_midnight(window.as_of)),
        aggregates={
            "points": "SUM({points})",
            "holders": "SUM(CASE WHEN {points} > 0 THEN 1 ELSE 0 END)",
        },
        at=window.as_of - _DAY,
    )
    return [
        Value(segment=segment, value=Decimal(whole(row["points"])), n=whole(row["holders"]))
        for segment, row in rows.items()
    ]


def expired_in(start: dt.datetime, end: dt.datetime) -> Q:
    """The expiry entries points_expired counts for [start, end): the job expires a lot
    after its expiry, so its entry occurred after the start too."""
    return Q(kind="expire", occurred_at__gte=start, expires_at__gt=start, expires_at__lte=end)


def points_expired_compute(window: Window) -> list[Value]:
    from loyalty.models import LedgerEntry

    kept = state.expired(window.start, window.as_of, window.period)
    if kept is not None:  # a current period of the member state
        return [
            Value(segment=segment, value=Decimal(points), n=members)
            for segment, (points, members) in kept.items()
        ]

    start, end = local_midnight(window.start), local_midnight(window.as_of)
    expired = (
        LedgerEntry.objects.filter(expired_in(start, end))
        .order_by()
        .values("member_id")
        .annotate(points=-Sum("points"))
    )
    rows = rollup(
        facts=expired,
        aggregates={"points": "SUM({points})", "members": "COUNT(*)"},
        at=window.as_of - _DAY,
    )
    return [
        Value(segment=segment, value=Decimal(whole(row["points"])), n=whole(row["members"]))
        for segment, row in rows.items()
    ]


POINTS_OUTSTANDING = register(
    Kpi(
        code="points_outstanding",
        label=gettext_noop("Points outstanding (liability)"),
        unit="points",
        compute=points_outstanding_compute,
        higher_is_better=False,
        group="points",
        dimensions=DIMENSIONS,
        point_in_time=True,
    )
)
POINTS_EXPIRED = register(
    Kpi(
        code="points_expired",
        label=gettext_noop("Points expired"),
        unit="points",
        compute=points_expired_compute,
        higher_is_better=False,
        group="points",
        dimensions=DIMENSIONS,
    )
)
