"""Property-based test: any sequence of ledger operations keeps the books consistent.

After every step: cached balances == ledger sums, lots agree with movements and with the
ledger (`ledger_drift()` is empty), no bucket is negative, and a member who owes points has
nothing spendable left (new points always pay debt first).
"""

import datetime as dt

import pytest
from django.db import transaction
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from loyalty.errors import InsufficientPoints, ReturnExceedsPurchase
from loyalty.ledger import (
    _spendable_lots,
    points_adjust,
    points_earn,
    points_expire_due,
    points_refund,
    points_release_due,
    points_spend,
)
from loyalty.models import Purchase
from loyalty.models.ledger import EntrySource
from loyalty.purchases import Line, purchase_record, purchase_return
from loyalty.selectors import ledger_drift
from tests.members.factories import MemberFactory, UserFactory

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


class LedgerMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        # Each example runs in its own savepoint, rolled back in teardown, so examples (and
        # hypothesis' replays of saved failures) never see each other's rows.
        self._example = transaction.atomic()
        self._example.__enter__()
        self.member = MemberFactory()
        self.staff = UserFactory()
        self.now = T0
        self.orders: list[str] = []
        self.spends: list[str] = []
        self.counter = 0

    def _ref(self, prefix):
        self.counter += 1
        return f"{prefix}-{self.member.pk}-{self.counter}"

    def teardown(self):
        transaction.set_rollback(True)
        self._example.__exit__(None, None, None)

    @rule(days=st.integers(0, 120))
    def advance_clock(self, days):
        self.now += dt.timedelta(days=days)

    @rule(points=st.integers(1, 500), life=st.integers(1, 400), pending=st.integers(0, 30))
    def earn(self, points, life, pending):
        points_earn(
            member=self.member,
            points=points,
            source=EntrySource.API,
            now=self.now,
            expires_at=self.now + dt.timedelta(days=life),
            available_at=self.now + dt.timedelta(days=pending) if pending else None,
        )

    @rule(total=st.integers(100, 50_000))
    def purchase(self, total):
        ref = self._ref("O")
        purchase_record(
            member=self.member,
            order_reference=ref,
            total=total,
            occurred_at=self.now,
            now=self.now,
            lines=[Line(sku="X", quantity=1, unit_price=total)],
        )
        self.orders.append(ref)

    @rule(points=st.integers(1, 400), on_order=st.booleans())
    def spend(self, points, on_order):
        ref = self.orders[-1] if on_order and self.orders else self._ref("S")
        try:
            points_spend(member=self.member, points=points, reference=ref, now=self.now)
            self.spends.append(ref)
        except InsufficientPoints:
            pass

    @rule(points=st.integers(-300, 300).filter(bool))
    def adjust(self, points):
        try:
            points_adjust(
                member=self.member,
                points=points,
                reason="test",
                created_by=self.staff,
                now=self.now,
            )
        except InsufficientPoints:
            pass

    @rule(data=st.data(), share=st.integers(1, 100))
    def return_part(self, data, share):
        if not self.orders:
            return
        ref = data.draw(st.sampled_from(self.orders))
        purchase = Purchase.objects.get(order_reference=ref)
        left = purchase.total - purchase.returned_total
        amount = max(1, left * share // 100)
        try:
            purchase_return(
                order_reference=ref,
                return_reference=self._ref("R"),
                amount=amount,
                occurred_at=self.now,
            )
        except ReturnExceedsPurchase:
            assert left == 0

    @rule(data=st.data(), points=st.integers(1, 400))
    def refund(self, data, points):
        if self.spends:
            ref = data.draw(st.sampled_from(self.spends))
            points_refund(member=self.member, reference=ref, points=points, now=self.now)

    @rule()
    def nightly(self):
        points_release_due(now=self.now)
        points_expire_due(now=self.now)

    @invariant()
    def books_balance(self):
        assert ledger_drift() == []
        self.member.refresh_from_db()
        m = self.member
        assert m.points_available >= 0 and m.points_pending >= 0 and m.points_debt >= 0

    @invariant()
    def debt_only_when_nothing_spendable(self):
        m = self.member
        if m.points_debt > 0:
            spendable = sum(lot.remaining for lot in _spendable_lots(m, now=self.now))
            assert spendable == 0
            assert m.points_pending == 0


@pytest.mark.django_db
def test_ledger_operations_keep_the_books_consistent():
    run_state_machine_as_test(
        LedgerMachine,
        settings=settings(
            max_examples=40,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
