import datetime as dt
from decimal import Decimal

import pytest

from loyalty.errors import (
    IdempotencyConflict,
    InvalidAmount,
    MemberNotActive,
    ReturnExceedsPurchase,
)
from loyalty.ledger import ledger_sums, points_adjust, points_earn, points_spend
from loyalty.models import LedgerEntry, PointLot, Purchase
from loyalty.models.ledger import EntryKind, EntrySource
from loyalty.purchases import Line, purchase_record, purchase_return
from members.models import Member
from members.services import member_withdraw
from tests.members.factories import MemberFactory, StoreFactory, TierFactory, UserFactory

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 3, 1, 10, 0, tzinfo=dt.UTC)


def buy(member, total, ref="ORDER-1", **kw):
    lines = kw.pop("lines", [Line(sku="SKU-1", quantity=1, unit_price=total)])
    return purchase_record(
        member=member, order_reference=ref, total=total, occurred_at=T0, lines=lines, **kw
    )


def state(member):
    member.refresh_from_db()
    assert ledger_sums([member.pk]).get(member.pk, {}).get("points_available", 0) == (
        member.points_available
    )
    return member.points_available, member.points_pending, member.points_debt


def test_base_points_one_per_100_yen_rounded_down_times_tier():
    gold = TierFactory(earn_multiplier=Decimal("1.5"))
    member = MemberFactory(tier=gold)
    purchase, created = buy(member, 1999)  # 19 base points x 1.5 = 28.5 -> 28
    assert created is True
    assert LedgerEntry.objects.get(purchase=purchase).points == 28
    assert state(member) == (28, 0, 0)


def test_purchase_below_100_yen_earns_nothing():
    member = MemberFactory()
    buy(member, 99)
    assert LedgerEntry.objects.filter(member=member).count() == 0


def test_purchase_replay_is_idempotent_and_a_different_body_conflicts():
    member = MemberFactory()
    first, _ = buy(member, 5000)
    again, created = buy(member, 5000)
    assert (again.pk, created) == (first.pk, False)
    with pytest.raises(IdempotencyConflict) as exc:
        buy(member, 5001)
    assert exc.value.field == "order_reference"
    assert Purchase.objects.count() == 1
    assert state(member) == (50, 0, 0)


def test_purchase_points_pending_for_the_return_window(settings):
    settings.LOYALTY_PENDING_DAYS = 14
    member = MemberFactory()
    purchase_record(
        member=member,
        order_reference="P",
        total=3000,
        occurred_at=T0,
        now=T0,
        lines=[Line(sku="A", quantity=3, unit_price=1000)],
    )
    lot = PointLot.objects.get(member=member)
    assert (lot.state, lot.available_at) == ("pending", T0 + dt.timedelta(days=14))
    assert state(member) == (0, 30, 0)


def test_withdrawn_member_cannot_earn():
    member = MemberFactory()
    member_withdraw(member=member)
    with pytest.raises(MemberNotActive):
        buy(Member.objects.get(pk=member.pk), 1000)
    assert Purchase.objects.count() == 0


def test_full_return_reverses_all_points_of_the_order():
    member = MemberFactory()
    buy(member, 10_000)
    purchase_return(order_reference="ORDER-1", return_reference="R1", amount=10_000)
    assert state(member) == (0, 0, 0)
    member.refresh_from_db()
    assert member.points_lifetime == 0


def test_partial_returns_reverse_proportionally_and_add_up_exactly():
    member = MemberFactory()
    buy(member, 1000)  # 10 points
    # 1/3 of 10 = 3.33 -> 3 reversed; cumulative 2/3 -> 6; all -> 10 exactly.
    purchase_return(order_reference="ORDER-1", return_reference="R1", amount=333)
    assert state(member) == (7, 0, 0)
    purchase_return(order_reference="ORDER-1", return_reference="R2", amount=334)
    assert state(member) == (4, 0, 0)
    purchase_return(order_reference="ORDER-1", return_reference="R3", amount=333)
    assert state(member) == (0, 0, 0)
    with pytest.raises(ReturnExceedsPurchase):
        purchase_return(order_reference="ORDER-1", return_reference="R4", amount=1)


def test_return_replay_is_idempotent_and_conflicting_replay_is_refused():
    member = MemberFactory()
    buy(member, 1000)
    _, created = purchase_return(order_reference="ORDER-1", return_reference="R1", amount=500)
    _, again = purchase_return(order_reference="ORDER-1", return_reference="R1", amount=500)
    assert (created, again) == (True, False)
    with pytest.raises(IdempotencyConflict):
        purchase_return(order_reference="ORDER-1", return_reference="R1", amount=400)
    assert state(member) == (5, 0, 0)


def test_return_after_points_were_spent_takes_other_points_then_records_debt():
    member = MemberFactory()
    buy(member, 10_000)  # 100 points
    points_earn(member=member, points=30, source=EntrySource.API, reason="x", now=T0)
    points_spend(member=member, points=120, reference="SPEND", now=T0)  # 10 left
    purchase_return(order_reference="ORDER-1", return_reference="R1", amount=10_000)
    # 100 to take back: 10 available, 90 owed; the balance never goes negative.
    assert state(member) == (0, 0, 90)
    debt = LedgerEntry.objects.get(member=member, state="debt")
    assert (debt.kind, debt.points) == (EntryKind.REVERSE, -90)

    # The next earnings pay the debt first.
    buy(member, 5000, ref="ORDER-2")  # 50 points -> all to the debt
    assert state(member) == (0, 0, 40)
    buy(member, 6000, ref="ORDER-3")  # 60 points -> 40 to the debt, 20 available
    assert state(member) == (20, 0, 0)
    member.refresh_from_db()
    # Lifetime = earned (100 + 30 + 50 + 60) minus the returned purchase's 100.
    assert member.points_lifetime == 140


def test_return_refunds_points_spent_on_the_order_to_their_lots():
    member = MemberFactory()
    points_earn(
        member=member,
        points=100,
        source=EntrySource.API,
        reason="x",
        now=T0,
        expires_at=T0 + dt.timedelta(days=10),
    )
    # The order is paid partly with 60 points (spend recorded under the order reference).
    points_spend(member=member, points=60, reference="ORDER-7", now=T0)
    buy(member, 2000, ref="ORDER-7")  # earns 20
    assert state(member) == (60, 0, 0)
    purchase_return(order_reference="ORDER-7", return_reference="R7", amount=1000)
    # Half returned: 10 earned points reversed, 30 spent points given back to the first lot.
    assert state(member) == (80, 0, 0)
    first_lot = PointLot.objects.filter(member=member).order_by("id").first()
    assert first_lot.remaining == 70


def test_return_of_unknown_order_names_the_field():
    with pytest.raises(Exception) as exc:
        purchase_return(order_reference="NOPE", return_reference="R", amount=1)
    assert exc.value.field == "order_reference"


def test_purchase_lines_and_store_are_recorded():
    store = StoreFactory()
    member = MemberFactory()
    purchase, _ = buy(
        member,
        1500,
        store=store,
        lines=[
            Line(sku="TEA", quantity=2, unit_price=500, category="drinks"),
            Line(sku="CAKE", quantity=1, unit_price=500, category="food"),
        ],
    )
    assert sorted(purchase.lines.values_list("sku", "quantity", "unit_price", "category")) == [
        ("CAKE", 1, 500, "food"),
        ("TEA", 2, 500, "drinks"),
    ]
    assert purchase.store_id == store.pk


def test_partial_return_does_not_take_the_same_lot_twice():
    # Found by the hypothesis state machine: the purchase's own lot is taken first, then the
    # spendable-lots query read the same lot again with its old remaining.
    member = MemberFactory()
    buy(member, 15_000)  # 150 points in one lot
    points_spend(member=member, points=148, reference="S-1", now=T0)  # 2 left in that lot
    purchase_return(order_reference="ORDER-1", return_reference="R1", amount=300)  # 3 points
    assert state(member) == (0, 0, 1)


def test_backdated_return_is_judged_at_its_own_time():
    # Found by the demo generator: an offline till syncs a return days later. Purchase B's
    # points were spent; at the return's time A's lot is the only other spendable one.
    member = MemberFactory()
    feb, mar = dt.datetime(2024, 2, 1, tzinfo=dt.UTC), dt.datetime(2024, 3, 1, tzinfo=dt.UTC)
    lines = [Line(sku="X", quantity=1, unit_price=1000)]
    purchase_record(
        member=member, order_reference="B", total=1000, occurred_at=feb, now=feb, lines=lines
    )
    purchase_record(
        member=member, order_reference="A", total=1000, occurred_at=mar, now=mar, lines=lines
    )
    points_spend(member=member, points=10, reference="S", now=mar + dt.timedelta(days=1))
    purchase_return(
        order_reference="B",
        return_reference="RB",
        amount=1000,
        occurred_at=mar + dt.timedelta(days=2),
    )
    assert state(member) == (0, 0, 0)
    reversal = LedgerEntry.objects.get(member=member, kind=EntryKind.REVERSE)
    assert reversal.occurred_at == mar + dt.timedelta(days=2)


def test_a_return_dated_before_its_purchase_is_refused_and_changes_nothing(settings):
    settings.TIME_ZONE = "Asia/Tokyo"
    member = MemberFactory()
    buy(member, 1000)  # T0: 2026-03-01 10:00 UTC, 19:00 in Tokyo
    before = state(member)
    with pytest.raises(InvalidAmount) as exc:
        purchase_return(
            order_reference="ORDER-1",
            return_reference="R-EARLY",
            amount=100,
            occurred_at=T0 - dt.timedelta(seconds=1),
        )
    assert exc.value.field == "occurred_at"
    assert (
        str(exc.value) == "A return can't happen before its purchase (2026-03-01T19:00:00+09:00)."
    )
    assert state(member) == before == (10, 0, 0)
    assert Purchase.objects.get().returned_total == 0
    # At the purchase's own instant it is accepted.
    purchase_return(
        order_reference="ORDER-1", return_reference="R-SAME", amount=100, occurred_at=T0
    )
    assert state(member) == (9, 0, 0)


def test_entries_carry_the_business_time_of_a_backdated_purchase():
    member = MemberFactory()
    purchase_record(
        member=member,
        order_reference="OLD",
        total=500,
        occurred_at=T0,
        now=T0,
        lines=[Line(sku="X", quantity=1, unit_price=500)],
    )
    assert LedgerEntry.objects.get(member=member).occurred_at == T0


def test_staff_adjustment_that_repays_a_debt_is_attributed_to_the_staff_user():
    # Found by the hypothesis state machine on PostgreSQL: the settle entries of a staff
    # adjustment lacked the user that the "staff entries name a user" constraint demands.
    member = MemberFactory()
    buy(member, 1000)  # 10 points
    points_spend(member=member, points=10, reference="S", now=T0)
    purchase_return(order_reference="ORDER-1", return_reference="R", amount=1000)
    assert state(member) == (0, 0, 10)
    clerk = UserFactory()
    points_adjust(member=member, points=4, reason="goodwill", created_by=clerk)
    assert state(member) == (0, 0, 6)
    settles = LedgerEntry.objects.filter(member=member, kind=EntryKind.SETTLE)
    assert sorted(settles.values_list("points", "created_by_id")) == [(-4, clerk.pk), (4, clerk.pk)]
