"""Recording purchases and returns, and the base points they earn or take back."""

import datetime as dt
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from members.models import Member, Staff, Store

from . import policy
from .errors import IdempotencyConflict, InvalidAmount, MemberNotActive, ReturnExceedsPurchase
from .ledger import points_earn, points_refund, purchase_points_reverse
from .models import LedgerEntry, Purchase, PurchaseLine, PurchaseReturn
from .models.ledger import EntryKind, EntrySource
from .models.purchases import Channel


@dataclass(frozen=True)
class Line:
    sku: str
    quantity: int
    unit_price: int
    category: str = ""


def _same_purchase(purchase: Purchase, described: tuple, lines: list[Line]) -> bool:
    """Whether a stored purchase is the one `described` again (a retry: member id, total,
    time, store id, staff id, channel, and the lines): the same order number at another
    store, time or channel is another purchase (a conflict)."""
    stored = (
        purchase.member_id,
        purchase.total,
        purchase.occurred_at,
        purchase.store_id,
        purchase.staff_id,
        purchase.channel,
    )
    stored_lines = sorted(purchase.lines.values_list("sku", "quantity", "unit_price", "category"))
    given_lines = sorted((ln.sku, ln.quantity, ln.unit_price, ln.category) for ln in lines)
    return stored == described and stored_lines == given_lines


@transaction.atomic
def purchase_record(
    *,
    member: Member,
    order_reference: str,
    total: int,
    occurred_at: dt.datetime,
    lines: list[Line] = (),
    store: Store | None = None,
    staff: Staff | None = None,
    channel: str = Channel.STORE,
    source: str = EntrySource.PURCHASE,
    now: dt.datetime | None = None,
) -> tuple[Purchase, bool]:
    """Record a purchase and earn its base points. Idempotent on `order_reference`:
    the same purchase again returns (existing, False); a different one raises a conflict.

    The ledger entries carry the purchase time (`now` defaults to `occurred_at`), so a
    back-dated purchase is booked when it happened; if its return window has already passed,
    the next pending-release run makes its points available.
    """
    if total < 0:
        raise InvalidAmount(_("The total must not be negative."), field="total")
    lines = list(lines)
    for index, line in enumerate(lines):
        if line.quantity <= 0:
            raise InvalidAmount(
                _("The quantity must be positive."), field=f"lines[{index}].quantity"
            )
    described = (
        member.pk,
        total,
        occurred_at,
        store.pk if store else None,
        staff.pk if staff else None,
        channel,
    )
    existing = Purchase.objects.filter(order_reference=order_reference).first()
    if existing is not None:
        if _same_purchase(existing, described, lines):
            return existing, False
        raise IdempotencyConflict(field="order_reference")
    # Status and tier from the locked row, not the caller's possibly stale copy: a member
    # withdrawn a moment ago earns nothing.
    member = Member.objects.select_for_update(of=("self",)).select_related("tier").get(pk=member.pk)
    if member.status != Member.Status.ACTIVE:
        raise MemberNotActive()
    try:
        with transaction.atomic():
            purchase = Purchase.objects.create(
                order_reference=order_reference,
                member=member,
                store=store,
                staff=staff,
                channel=channel,
                occurred_at=occurred_at,
                total=total,
            )
    except IntegrityError:
        # A concurrent request recorded the same order first; answer as a replay would.
        existing = Purchase.objects.get(order_reference=order_reference)
        if _same_purchase(existing, described, lines):
            return existing, False
        raise IdempotencyConflict(field="order_reference") from None
    PurchaseLine.objects.bulk_create(
        PurchaseLine(
            purchase=purchase,
            sku=ln.sku,
            category=ln.category,
            quantity=ln.quantity,
            unit_price=ln.unit_price,
        )
        for ln in lines
    )
    multiplier = member.tier.earn_multiplier if member.tier_id else 1
    points = policy.base_points(amount=total, multiplier=multiplier)
    if points:
        points_earn(
            member=member,
            points=points,
            source=source,
            purchase=purchase,
            reference=order_reference,
            available_at=policy.purchase_available_at(occurred_at),
            expires_at=policy.expiry_for(occurred_at),
            now=now or occurred_at,
        )
    return purchase, True


@transaction.atomic
def purchase_return(
    *,
    order_reference: str,
    return_reference: str,
    amount: int,
    occurred_at: dt.datetime | None = None,
) -> tuple[PurchaseReturn, bool]:
    """Return `amount` yen of a purchase: take back its base points in proportion, and give
    back in proportion any points spent on the order (to the lots they came from).

    Proportions are computed on the cumulative returned amount, so several partial returns
    add up to exactly the full reversal. Idempotent on `return_reference`.
    """
    if amount <= 0:
        raise InvalidAmount(_("The amount must be positive."), field="amount")
    purchase = Purchase.objects.select_for_update().filter(order_reference=order_reference).first()
    if purchase is None:
        raise InvalidAmount(_("No purchase has this order reference."), field="order_reference")
    existing = PurchaseReturn.objects.filter(return_reference=return_reference).first()
    if existing is not None:
        same_time = occurred_at is None or existing.occurred_at == occurred_at
        if existing.purchase_id == purchase.pk and existing.amount == amount and same_time:
            return existing, False
        raise IdempotencyConflict(field="return_reference")
    if amount > purchase.total - purchase.returned_total:
        raise ReturnExceedsPurchase(
            _("Only %(left)d yen of this purchase can still be returned.")
            % {"left": purchase.total - purchase.returned_total}
        )
    # A back-dated return (an offline till syncing later) is judged at its own time.
    now = occurred_at or timezone.now()
    if now < purchase.occurred_at:
        raise InvalidAmount(
            _("A return can't happen before its purchase (%(at)s).")
            % {"at": timezone.localtime(purchase.occurred_at).isoformat()},
            field="occurred_at",
        )
    returned = PurchaseReturn.objects.create(
        purchase=purchase, return_reference=return_reference, amount=amount, occurred_at=now
    )
    purchase.returned_total += amount
    purchase.save(update_fields=["returned_total"])

    entries = LedgerEntry.objects.filter(member_id=purchase.member_id)
    earned = entries.filter(purchase=purchase, kind=EntryKind.EARN).aggregate(
        s=Sum("points", default=0)
    )["s"]
    reversed_ = -entries.filter(purchase=purchase, kind=EntryKind.REVERSE).aggregate(
        s=Sum("points", default=0)
    )["s"]
    to_reverse = earned * purchase.returned_total // purchase.total - reversed_
    if to_reverse > 0:
        purchase_points_reverse(
            purchase=purchase, points=to_reverse, reference=return_reference, now=now
        )

    by_kind = entries.filter(reference=order_reference).values("kind").annotate(s=Sum("points"))
    sums = {row["kind"]: row["s"] for row in by_kind}
    spent = -sums.get(EntryKind.SPEND, 0)
    refunded = sums.get(EntryKind.REFUND, 0)
    to_refund = spent * purchase.returned_total // purchase.total - refunded
    if to_refund > 0:
        points_refund(
            member=purchase.member,
            reference=order_reference,
            points=to_refund,
            reason=f"return {return_reference}",
            now=now,
        )
    return returned, True
