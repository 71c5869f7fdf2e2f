"""Reads of points and ledger data."""

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.db.models import Q, Sum
from django.utils import timezone

from members.models import Member

from .ledger import ledger_sums
from .models import LotMovement, PointLot
from .models.ledger import EntryState


@dataclass(frozen=True)
class Balance:
    available: int
    pending: int
    owed: int
    lifetime: int
    expiring_soon: int
    expiring_soon_until: dt.datetime


def member_balance(*, member: Member, now: dt.datetime | None = None) -> Balance:
    now = now or timezone.now()
    until = now + dt.timedelta(days=settings.LOYALTY_EXPIRING_SOON_DAYS)
    expiring = PointLot.objects.filter(
        member=member, state=EntryState.AVAILABLE, remaining__gt=0, expires_at__lte=until
    ).aggregate(s=Sum("remaining", default=0))["s"]
    return Balance(
        available=member.points_available,
        pending=member.points_pending,
        owed=member.points_debt,
        lifetime=member.points_lifetime,
        expiring_soon=expiring,
        expiring_soon_until=until,
    )


def member_expiry_schedule(*, member: Member, now: dt.datetime | None = None) -> list[dict]:
    """What expires when: open lots grouped by expiry date (for the member app)."""
    now = now or timezone.now()
    rows = (
        PointLot.objects.filter(member=member, remaining__gt=0, expires_at__gt=now)
        .values("expires_at")
        .annotate(points=Sum("remaining"))
        .order_by("expires_at")
    )
    return list(rows)


@dataclass(frozen=True)
class Drift:
    member_id: int
    problem: str


def ledger_drift() -> list[Drift]:
    """Every disagreement between cached balances, the ledger and the lots (empty = healthy).

    Three checks, each one SQL aggregation:
    1. each member's cached balances == the sums of their ledger entries;
    2. each lot's remaining == its points + the movements recorded against it;
    3. each member's available/pending ledger sums == the remaining of their open lots.
    """
    drifts: list[Drift] = []
    sums = ledger_sums()
    fields = ["points_available", "points_pending", "points_debt", "points_lifetime"]
    zero = dict.fromkeys(fields, 0)
    for row in Member.objects.values("pk", *fields).iterator(chunk_size=5000):
        expected = sums.get(row["pk"], zero)
        for field in fields:
            if row[field] != expected[field]:
                drifts.append(
                    Drift(row["pk"], f"{field} cached {row[field]} != ledger {expected[field]}")
                )

    moved = LotMovement.objects.values("lot_id").annotate(s=Sum("points"))
    moved_by_lot = {row["lot_id"]: row["s"] for row in moved.iterator(chunk_size=5000)}
    lots = PointLot.objects.values_list("pk", "member_id", "points", "remaining")
    for pk, member_id, points, remaining in lots.iterator(chunk_size=5000):
        if remaining != points + moved_by_lot.get(pk, 0):
            drifts.append(
                Drift(member_id, f"lot {pk} remaining {remaining} != {points} + movements")
            )

    open_lots = PointLot.objects.values("member_id").annotate(
        available=Sum("remaining", filter=Q(state=EntryState.AVAILABLE), default=0),
        pending=Sum("remaining", filter=Q(state=EntryState.PENDING), default=0),
    )
    by_member = {row["member_id"]: row for row in open_lots}
    for member_id, expected in sums.items():
        lot_row = by_member.get(member_id, {"available": 0, "pending": 0})
        for state, field in (("available", "points_available"), ("pending", "points_pending")):
            if lot_row[state] != expected[field]:
                drifts.append(
                    Drift(member_id, f"{state} lots {lot_row[state]} != ledger {expected[field]}")
                )
    return drifts
