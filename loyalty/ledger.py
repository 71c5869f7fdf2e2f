"""Writing the points ledger: every change of a member's points goes through this module.

Each public function locks the member row (SELECT ... FOR UPDATE on PostgreSQL; SQLite runs
write transactions one at a time), appends ledger entries, moves points between lots and
updates the member's cached balances in the same transaction. See loyalty/models/ledger.py for
the invariants and docs/ledger.md for the rules (FIFO spending, expiry, returns and debt).
"""

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.db import connection, transaction
from django.db.models import F, Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from members.models import Member

from . import policy
from .errors import IdempotencyConflict, InsufficientPoints, InvalidAmount, MemberNotActive
from .models import LedgerEntry, LotMovement, PointLot, Purchase
from .models.ledger import EntryKind, EntrySource, EntryState

# Kinds whose sum is the member's lifetime earned points (earnings net of returns).
LIFETIME_KINDS = (EntryKind.EARN, EntryKind.REVERSE)
_BALANCE_FIELD = {
    EntryState.AVAILABLE: "points_available",
    EntryState.PENDING: "points_pending",
}


def _lock_member(member: Member) -> Member:
    return Member.objects.select_for_update().get(pk=member.pk)


def _positive(points: int) -> int:
    if not isinstance(points, int) or isinstance(points, bool) or points <= 0:
        raise InvalidAmount(_("Points must be a positive whole number."))
    return points


class _Writer:
    """Collects the entries, movements and lot changes of one operation on one locked member."""

    def __init__(self, member: Member, *, now: dt.datetime):
        self.member = member
        self.now = now
        self.dirty_lots: dict[int, PointLot] = {}

    def entry(self, *, points: int, kind: str, state: str, **fields) -> LedgerEntry:
        entry = LedgerEntry.objects.create(
            member=self.member,
            points=points,
            kind=kind,
            state=state,
            occurred_at=self.now,
            **fields,
        )
        if state == EntryState.DEBT:
            self.member.points_debt -= points
        else:
            field = _BALANCE_FIELD[state]
            setattr(self.member, field, getattr(self.member, field) + points)
        if kind in LIFETIME_KINDS:
            self.member.points_lifetime += points
        return entry

    def open_lot(self, entry: LedgerEntry) -> PointLot:
        return PointLot.objects.create(
            member=self.member,
            entry=entry,
            points=entry.points,
            remaining=entry.points,
            state=entry.state,
            available_at=entry.available_at,
            expires_at=entry.expires_at,
        )

    def take(
        self, *, lots: Iterable[PointLot], points: int, kind: str, **fields
    ) -> tuple[list[LedgerEntry], int]:
        """Take up to `points` from `lots` in order; one entry per lot state. Returns the
        entries and the points that could not be taken."""
        left = points
        moves: dict[str, list[tuple[PointLot, int]]] = defaultdict(list)
        for lot in lots:
            if left == 0:
                break
            # A lot this operation already moved is read again by a later query (a return
            # takes the purchase's own lots, then all spendable lots): use the in-memory copy.
            lot = self.dirty_lots.get(lot.pk, lot)
            taken = min(lot.remaining, left)
            if taken <= 0:
                continue
            moves[lot.state].append((lot, -taken))
            left -= taken
        entries = [
            self.move(lot_moves=state_moves, kind=kind, state=state, **fields)
            for state, state_moves in moves.items()
        ]
        return entries, left

    def move(
        self, *, lot_moves: list[tuple[PointLot, int]], kind: str, state: str, **fields
    ) -> LedgerEntry:
        total = sum(delta for _lot, delta in lot_moves)
        entry = self.entry(points=total, kind=kind, state=state, **fields)
        LotMovement.objects.bulk_create(
            LotMovement(entry=entry, lot=lot, points=delta) for lot, delta in lot_moves
        )
        for lot, delta in lot_moves:
            lot.remaining += delta
            self.dirty_lots[lot.pk] = lot
        return entry

    def settle_debt(self, lot: PointLot, *, source: str, created_by=None) -> None:
        """New points pay off what the member owes first (see docs/ledger.md, returns)."""
        owed = min(self.member.points_debt, lot.remaining)
        if owed <= 0:
            return
        taken = self.move(
            lot_moves=[(lot, -owed)],
            kind=EntryKind.SETTLE,
            state=lot.state,
            source=source,
            created_by=created_by,
            reason="debt repaid from new points",
        )
        self.entry(
            points=owed,
            kind=EntryKind.SETTLE,
            state=EntryState.DEBT,
            source=source,
            created_by=created_by,
            related_entry=taken,
            reason="debt repaid from new points",
        )

    def save(self) -> None:
        # One UPDATE per lot: an operation touches a handful of lots, and bulk_update's CASE
        # expressions cost more in Python than they save in round trips at that size.
        for lot in self.dirty_lots.values():
            PointLot.objects.filter(pk=lot.pk).update(remaining=lot.remaining, state=lot.state)
        m = self.member
        Member.objects.filter(pk=m.pk).update(
            points_available=m.points_available,
            points_pending=m.points_pending,
            points_debt=m.points_debt,
            points_lifetime=m.points_lifetime,
        )


def _spendable_lots(member: Member, *, now: dt.datetime):
    """Available, unexpired lots, soonest expiry first (never-expiring last), oldest first."""
    return (
        PointLot.objects.filter(member=member, state=EntryState.AVAILABLE, remaining__gt=0)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
        .order_by(F("expires_at").asc(nulls_last=True), "id")
    )


def _credit(
    *,
    member: Member,
    points: int,
    kind: str,
    source: str,
    now: dt.datetime,
    available_at: dt.datetime | None = None,
    expires_at: dt.datetime | None = None,
    **fields,
) -> LedgerEntry:
    member = _lock_member(member)
    writer = _Writer(member, now=now)
    pending = available_at is not None and available_at > now
    entry = writer.entry(
        points=points,
        kind=kind,
        state=EntryState.PENDING if pending else EntryState.AVAILABLE,
        source=source,
        available_at=available_at,
        expires_at=expires_at if expires_at is not None else policy.expiry_for(now),
        **fields,
    )
    # The repayment is attributed like the credit that pays it (a staff adjustment's user).
    writer.settle_debt(writer.open_lot(entry), source=source, created_by=fields.get("created_by"))
    writer.save()
    return entry


@transaction.atomic
def points_earn(
    *,
    member: Member,
    points: int,
    source: str,
    purchase: Purchase | None = None,
    reference: str = "",
    reason: str = "",
    available_at: dt.datetime | None = None,
    expires_at: dt.datetime | None = None,
    created_by: AbstractBaseUser | None = None,
    now: dt.datetime | None = None,
) -> LedgerEntry:
    """Add earned points as a new lot; pending until `available_at` when that is in the future."""
    return _credit(
        member=member,
        points=_positive(points),
        kind=EntryKind.EARN,
        source=source,
        now=now or timezone.now(),
        available_at=available_at,
        expires_at=expires_at,
        purchase=purchase,
        reference=reference,
        reason=reason,
        created_by=created_by,
    )


@transaction.atomic
def points_spend(
    *,
    member: Member,
    points: int,
    reference: str,
    source: str = EntrySource.REDEMPTION,
    reason: str = "",
    created_by: AbstractBaseUser | None = None,
    now: dt.datetime | None = None,
) -> LedgerEntry:
    """Spend available points, consuming the lots that expire soonest first.
    Only an active member spends (suspended and withdrawn members keep, but cannot use, them)."""
    return _debit(
        member=member,
        points=_positive(points),
        require_active=True,
        kind=EntryKind.SPEND,
        source=source,
        reference=reference,
        reason=reason,
        created_by=created_by,
        now=now or timezone.now(),
    )


def _debit(
    *,
    member: Member,
    points: int,
    kind: str,
    source: str,
    now: dt.datetime,
    require_active: bool = False,
    **fields,
):
    member = _lock_member(member)
    if require_active and member.status != Member.Status.ACTIVE:
        raise MemberNotActive()
    if points > member.points_available:
        raise InsufficientPoints(available=member.points_available, requested=points)
    writer = _Writer(member, now=now)
    entries, left = writer.take(
        lots=_spendable_lots(member, now=now), points=points, kind=kind, source=source, **fields
    )
    if left:
        # The cached balance said yes but the open lots say no: lots past their expiry that the
        # nightly job has not expired yet. Refuse rather than spend expired points.
        raise InsufficientPoints(available=points - left, requested=points)
    writer.save()
    return entries[0]


@transaction.atomic
def points_adjust(
    *,
    member: Member,
    points: int,
    reason: str,
    source: str = EntrySource.STAFF,
    created_by: AbstractBaseUser | None = None,
    reference: str = "",
    now: dt.datetime | None = None,
) -> tuple[LedgerEntry, bool]:
    """A manual correction: positive adds a lot, negative takes from available points (FIFO).

    The balance never goes below zero: taking more than is available is refused.
    With a `reference` (an admin form token, an API idempotency key) the adjustment happens
    once: the same request again returns (original, False); different points or reason under
    the same reference raise IdempotencyConflict. Otherwise returns (entry, True).
    """
    reason = (reason or "").strip()
    if not reason:
        raise InvalidAmount(_("A reason is required for a points adjustment."), field="reason")
    if not isinstance(points, int) or isinstance(points, bool) or points == 0:
        raise InvalidAmount(_("Points must be a non-zero whole number."))
    now = now or timezone.now()
    if _lock_member(member).status == Member.Status.WITHDRAWN:
        # Their points are frozen until they expire (members.services.member_withdraw).
        raise MemberNotActive(_("The member has withdrawn: their points can't be adjusted."))
    if reference:  # the member's row is locked: replays of the same reference queue here
        done = LedgerEntry.objects.filter(
            member=member, kind=EntryKind.ADJUST, reference=reference
        ).first()
        if done is not None:
            if done.points == points and done.reason == reason:
                return done, False
            raise IdempotencyConflict(field="reference")
    fields = {"reason": reason, "created_by": created_by, "reference": reference}
    if points > 0:
        entry = _credit(
            member=member, points=points, kind=EntryKind.ADJUST, source=source, now=now, **fields
        )
    else:
        entry = _debit(
            member=member, points=-points, kind=EntryKind.ADJUST, source=source, now=now, **fields
        )
    return entry, True


@transaction.atomic
def points_refund(
    *,
    member: Member,
    reference: str,
    points: int,
    source: str = EntrySource.RETURN,
    reason: str = "",
    now: dt.datetime | None = None,
) -> LedgerEntry | None:
    """Give back up to `points` spent under `reference` to the very lots they came from.

    Lots whose expiry has passed get the points back too; the expiry job then expires them,
    as it would have had they never been spent. Returns None when nothing is left to refund.
    """
    _positive(points)
    now = now or timezone.now()
    member = _lock_member(member)
    spent = defaultdict(int)
    movements = LotMovement.objects.filter(
        entry__member=member,
        entry__reference=reference,
        entry__kind__in=[EntryKind.SPEND, EntryKind.REFUND],
    ).values_list("lot_id", "points")
    for lot_id, delta in movements:
        spent[lot_id] -= delta
    # Latest expiry first: a partial refund gives back the longest-lived points.
    lots = PointLot.objects.filter(pk__in=[k for k, v in spent.items() if v > 0]).order_by(
        F("expires_at").desc(nulls_first=True), "-id"
    )
    left = points
    lot_moves = []
    for lot in lots:
        give = min(spent[lot.pk], left)
        if give > 0:
            lot_moves.append((lot, give))
            left -= give
    if not lot_moves:
        return None
    writer = _Writer(member, now=now)
    entry = writer.move(
        lot_moves=lot_moves,
        kind=EntryKind.REFUND,
        state=EntryState.AVAILABLE,
        source=source,
        reference=reference,
        reason=reason,
    )
    for lot, _delta in lot_moves:
        writer.settle_debt(lot, source=source)
    writer.save()
    return entry


@transaction.atomic
def purchase_points_reverse(
    *, purchase: Purchase, points: int, reference: str, now: dt.datetime | None = None
) -> list[LedgerEntry]:
    """Take back `points` earned by `purchase` (a return); see `_take_back` for the order."""
    _positive(points)
    member = _lock_member(purchase.member)
    own = PointLot.objects.filter(
        member=member, entry__purchase=purchase, entry__kind=EntryKind.EARN, remaining__gt=0
    ).order_by("id")
    fields = {"source": EntrySource.RETURN, "purchase": purchase, "reference": reference}
    return _take_back(member, own, points, now=now or timezone.now(), **fields)


@transaction.atomic
def entry_points_reverse(
    *,
    entry: LedgerEntry,
    points: int,
    reference: str,
    reason: str = "",
    now: dt.datetime | None = None,
) -> list[LedgerEntry]:
    """Take back `points` of what one earn entry credited (a challenge award whose purchase
    was returned); the reversal carries the entry's challenge version."""
    _positive(points)
    member = _lock_member(entry.member)
    own = PointLot.objects.filter(entry=entry, remaining__gt=0)
    fields = {
        "source": entry.source,
        "reference": reference,
        "reason": reason,
        "related_entry": entry,
        "challenge_version_id": entry.challenge_version_id,
    }
    return _take_back(member, own, points, now=now or timezone.now(), **fields)


def _take_back(member: Member, own_lots, points: int, *, now: dt.datetime, **fields):
    """Order of taking: what is left of the earn's own lots, then other available points
    (soonest expiry first), then other pending points; whatever is still missing (the points
    were already spent) is recorded as debt that the member's next points pay off."""
    writer = _Writer(member, now=now)
    entries, left = writer.take(lots=own_lots, points=points, kind=EntryKind.REVERSE, **fields)
    if left:
        more, left = writer.take(
            lots=_spendable_lots(member, now=now), points=left, kind=EntryKind.REVERSE, **fields
        )
        entries += more
    if left:
        pending = PointLot.objects.filter(
            member=member, state=EntryState.PENDING, remaining__gt=0
        ).order_by("available_at", "id")
        more, left = writer.take(lots=pending, points=left, kind=EntryKind.REVERSE, **fields)
        entries += more
    if left:
        entries.append(
            writer.entry(points=-left, kind=EntryKind.REVERSE, state=EntryState.DEBT, **fields)
        )
    writer.save()
    return entries


@dataclass(frozen=True, slots=True)
class Credit:
    """One earn in a bulk credit (points_credit_many)."""

    member_id: int
    points: int
    source: str
    occurred_at: dt.datetime
    expires_at: dt.datetime | None
    available_at: dt.datetime | None = None
    reason: str = ""
    reference: str = ""
    challenge_version_id: int | None = None


def points_credit_many(credits: list[Credit], *, now: dt.datetime) -> list[LedgerEntry]:
    """Many earns in a few statements (the challenge worker's batch): one INSERT of entries,
    one of lots, one UPDATE of balances. Same rules as points_earn: pending until
    available_at, and new points first repay what a member owes. Call inside a transaction;
    the members' rows are locked here (in id order, as every writer does)."""
    if not credits:
        return []
    for credit in credits:
        _positive(credit.points)
    ids = sorted({c.member_id for c in credits})
    members = {
        m.pk: m for m in Member.objects.select_for_update().filter(pk__in=ids).order_by("pk")
    }
    entries = []
    for credit in credits:
        pending = credit.available_at is not None and credit.available_at > now
        entries.append(
            LedgerEntry(
                member_id=credit.member_id,
                points=credit.points,
                kind=EntryKind.EARN,
                state=EntryState.PENDING if pending else EntryState.AVAILABLE,
                source=credit.source,
                available_at=credit.available_at,
                expires_at=credit.expires_at,
                occurred_at=credit.occurred_at,
                reason=credit.reason,
                reference=credit.reference,
                challenge_version_id=credit.challenge_version_id,
            )
        )
    LedgerEntry.objects.bulk_create(entries)
    lots = PointLot.objects.bulk_create(
        PointLot(
            member_id=entry.member_id,
            entry=entry,
            points=entry.points,
            remaining=entry.points,
            state=entry.state,
            available_at=entry.available_at,
            expires_at=entry.expires_at,
        )
        for entry in entries
    )
    for entry in entries:
        member = members[entry.member_id]
        field = _BALANCE_FIELD[entry.state]
        setattr(member, field, getattr(member, field) + entry.points)
        member.points_lifetime += entry.points
    for lot in lots:
        member = members[lot.member_id]
        if member.points_debt > 0:  # rare: a return took back points already spent
            writer = _Writer(member, now=now)
            writer.settle_debt(lot, source=EntrySource.CHALLENGE)
            for dirty in writer.dirty_lots.values():
                PointLot.objects.filter(pk=dirty.pk).update(remaining=dirty.remaining)
    _balances_save(list(members.values()))
    return entries


_BALANCES = ("points_available", "points_pending", "points_debt", "points_lifetime")


def _balances_save(members: list[Member]) -> None:
    """Write many members' cached balances in one statement (per parameter limit's worth):
    on PostgreSQL an `UPDATE ... FROM (VALUES ...)`, joined by hash; elsewhere `SET <balance>
    = CASE id WHEN <id> THEN <value> ... END`. bulk_update writes the CASE form from ORM
    expressions (about 0.5 ms a member in Python), which PostgreSQL then evaluates by a
    linear search of the WHENs: for a worker batch of 500 members, 240-440 ms that way,
    16-40 ms as VALUES on PostgreSQL, 2-3 ms as CASE on SQLite."""
    ops = connection.ops
    table, pk = ops.quote_name(Member._meta.db_table), ops.quote_name(Member._meta.pk.column)
    columns = [ops.quote_name(Member._meta.get_field(name).column) for name in _BALANCES]
    postgres = connection.vendor == "postgresql"
    per_member = (1 + len(_BALANCES)) if postgres else (1 + 2 * len(_BALANCES))
    size = (connection.features.max_query_params or 65535) // per_member
    with connection.cursor() as cursor:
        for start in range(0, len(members), size):
            chunk = members[start : start + size]
            if postgres:
                row = f"({', '.join(['%s'] * (1 + len(columns)))})"
                sets = ", ".join(f"{c} = v.{c}" for c in columns)
                values = f"VALUES {', '.join([row] * len(chunk))}"
                names = ", ".join([pk, *columns])
                where = f"m.{pk} = v.{pk}"
                params = [v for m in chunk for v in (m.pk, *(getattr(m, n) for n in _BALANCES))]
            else:
                whens = " ".join(["WHEN %s THEN %s"] * len(chunk))
                sets = ", ".join(f"{c} = CASE {pk} {whens} END" for c in columns)
                where = f"{pk} IN ({', '.join(['%s'] * len(chunk))})"
                params = [v for n in _BALANCES for m in chunk for v in (m.pk, getattr(m, n))]
                params += [m.pk for m in chunk]
            # Only quoted names and placeholders go into the text; the values are parameters.
            target = (
                f"{table} AS m SET {sets} FROM ({values}) AS v({names})"
                if postgres
                else f"{table} SET {sets}"
            )
            cursor.execute(f"UPDATE {target} WHERE {where}", params)  # noqa: S608


def points_expire_due(*, now: dt.datetime | None = None) -> int:
    """Expire what is left of every lot whose expiry has passed. Safe to run twice."""
    now = now or timezone.now()
    member_ids = (
        PointLot.objects.filter(remaining__gt=0, expires_at__lte=now)
        .values_list("member_id", flat=True)
        .distinct()
        .order_by("member_id")
    )
    expired = 0
    for member_id in member_ids.iterator():
        with transaction.atomic():
            member = Member.objects.select_for_update().get(pk=member_id)
            lots = PointLot.objects.filter(
                member=member, remaining__gt=0, expires_at__lte=now
            ).order_by("expires_at", "id")
            writer = _Writer(member, now=now)
            for lot in lots:
                writer.move(
                    lot_moves=[(lot, -lot.remaining)],
                    kind=EntryKind.EXPIRE,
                    state=lot.state,
                    source=EntrySource.EXPIRY_JOB,
                    expires_at=lot.expires_at,
                )
                expired += 1
            writer.save()
    return expired


def points_release_due(*, now: dt.datetime | None = None) -> int:
    """Make pending lots whose return window has passed spendable. Safe to run twice."""
    now = now or timezone.now()
    member_ids = (
        PointLot.objects.filter(state=EntryState.PENDING, available_at__lte=now)
        .values_list("member_id", flat=True)
        .distinct()
        .order_by("member_id")
    )
    released = 0
    for member_id in member_ids.iterator():
        with transaction.atomic():
            member = Member.objects.select_for_update().get(pk=member_id)
            writer = _Writer(member, now=now)
            lots = PointLot.objects.filter(
                member=member, state=EntryState.PENDING, available_at__lte=now
            ).order_by("available_at", "id")
            for lot in lots:
                lot.state = EntryState.AVAILABLE
                writer.dirty_lots[lot.pk] = lot
                released += 1
                if lot.remaining == 0:
                    continue
                fields = {
                    "kind": EntryKind.RELEASE,
                    "source": EntrySource.RELEASE_JOB,
                    "related_entry_id": lot.entry_id,
                }
                writer.entry(points=-lot.remaining, state=EntryState.PENDING, **fields)
                writer.entry(
                    points=lot.remaining,
                    state=EntryState.AVAILABLE,
                    expires_at=lot.expires_at,
                    **fields,
                )
            writer.save()
    return released


def ledger_sums(member_ids: Iterable[int] | None = None) -> dict[int, dict[str, int]]:
    """Balances recomputed from the ledger itself, per member (for check_ledger and tests)."""
    qs = LedgerEntry.objects.all()
    if member_ids is not None:
        qs = qs.filter(member_id__in=list(member_ids))
    rows = qs.values("member_id").annotate(
        available=Sum("points", filter=Q(state=EntryState.AVAILABLE), default=0),
        pending=Sum("points", filter=Q(state=EntryState.PENDING), default=0),
        debt=Sum("points", filter=Q(state=EntryState.DEBT), default=0),
        lifetime=Sum("points", filter=Q(kind__in=LIFETIME_KINDS), default=0),
    )
    return {
        row["member_id"]: {
            "points_available": row["available"],
            "points_pending": row["pending"],
            "points_debt": -row["debt"],
            "points_lifetime": row["lifetime"],
        }
        for row in rows
    }
