"""A return takes back the challenge rewards of its purchase (docs/challenges.md, "Returns").

Policy, computed on the purchase's cumulative returned amount so that several partial returns
add up to exactly one full reversal, and re-running changes nothing:
- amount-based points (points per amount, multipliers of base points) are reversed in
  proportion: what stays is floor(points x kept / total);
- fixed points and coupons stand until the purchase is returned in full; then the points are
  reversed and coupons not yet used are voided (a used coupon stays used).
"""

import datetime as dt

from loyalty.coupons import coupon_void
from loyalty.ledger import entry_points_reverse
from loyalty.models import Coupon

from .models import Award, Event

AMOUNT_BASED = {"points_per_amount", "multiplier"}


def returns_reverse_awards(events: list[Event]) -> None:
    """Take back what the returns' purchases earned from challenges, dated at each purchase's
    latest return in `events` (business time, like the return's own base-point reversal:
    the ledger's history and the KPIs put it on the day of the return, not of processing)."""
    purchases = {e.purchase_id: e.purchase for e in events if e.purchase_id}
    if not purchases:
        return
    returned_at: dict[int, dt.datetime] = {}
    for event in events:
        if event.purchase_id:
            at = event.occurred_at
            returned_at[event.purchase_id] = max(returned_at.get(event.purchase_id, at), at)
    awards = (
        Award.objects.filter(event__purchase_id__in=purchases, event__type__code="purchase")
        .select_related("event", "version", "ledger_entry__member", "coupon")
        .order_by("pk")
    )
    for award in awards:
        purchase = purchases[award.event.purchase_id]
        kept_amount = purchase.total - purchase.returned_total
        effect = award.version.effects[award.effect_index]
        if award.kind == Award.Kind.POINTS:
            if effect["type"] in AMOUNT_BASED and purchase.total:
                keep = award.points * kept_amount // purchase.total
            else:
                keep = award.points if kept_amount else 0
            to_reverse = award.points - keep - award.points_reversed
            if to_reverse > 0:
                entry_points_reverse(
                    entry=award.ledger_entry,
                    points=to_reverse,
                    reference=f"return:{purchase.order_reference}",
                    reason=f"return of {purchase.order_reference}",
                    now=returned_at[purchase.pk],
                )
                award.points_reversed += to_reverse
                award.save(update_fields=["points_reversed"])
        elif award.kind == Award.Kind.COUPON and kept_amount == 0 and award.coupon_id:
            if award.coupon.status == Coupon.Status.ISSUED:
                coupon_void(
                    coupon=award.coupon,
                    reason=f"purchase {purchase.order_reference} returned",
                    now=returned_at[purchase.pk],
                )
