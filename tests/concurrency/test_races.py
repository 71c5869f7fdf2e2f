"""Races with real threads on PostgreSQL: each thread has its own connection and transaction.

Plain `db` tests wrap everything in one transaction and would hide locking bugs, hence
transaction=True. A barrier releases all threads at once to maximise overlap.
"""

import threading

import pytest
from django.db import connection

from loyalty.coupons import coupon_issue, coupon_redeem
from loyalty.errors import CouponAlreadyUsed, CouponUnavailable, InsufficientPoints
from loyalty.ledger import ledger_sums, points_earn, points_spend
from loyalty.models import Coupon, LedgerEntry
from loyalty.models.ledger import EntrySource
from loyalty.purchases import Line, purchase_record
from members.models import Member
from tests.loyalty.factories import CouponTemplateFactory
from tests.members.factories import MemberFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def race(n, fn):
    """Run fn(i) in n threads started together; return results/exceptions in order."""
    barrier = threading.Barrier(n)
    results = [None] * n

    def run(i):
        try:
            barrier.wait()
            results[i] = fn(i)
        except Exception as exc:  # noqa: BLE001 - the test inspects what each thread got
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results


def test_concurrent_spends_never_take_available_below_zero():
    member = MemberFactory()
    points_earn(member=member, points=100, source=EntrySource.API, reason="seed")

    results = race(8, lambda i: points_spend(member=member, points=30, reference=f"S{i}"))

    ok = [r for r in results if isinstance(r, LedgerEntry)]
    refused = [r for r in results if isinstance(r, InsufficientPoints)]
    assert (len(ok), len(refused)) == (3, 5)
    member.refresh_from_db()
    assert member.points_available == 10
    assert ledger_sums([member.pk])[member.pk]["points_available"] == 10


def test_two_tills_redeeming_one_coupon_exactly_one_wins():
    coupon = coupon_issue(
        template=CouponTemplateFactory(), member=MemberFactory(), issued_via="api"
    )

    results = race(6, lambda i: coupon_redeem(code=coupon.code, order_reference=f"TILL-{i}"))

    winners = [r for r in results if isinstance(r, tuple) and r[1] is True]
    conflicts = [r for r in results if isinstance(r, CouponAlreadyUsed)]
    assert (len(winners), len(conflicts)) == (1, 5)
    coupon.refresh_from_db()
    assert coupon.status == "used"
    assert coupon.order_reference == winners[0][0].order_reference


def test_same_till_retrying_concurrently_all_succeed_once():
    coupon = coupon_issue(
        template=CouponTemplateFactory(), member=MemberFactory(), issued_via="api"
    )

    results = race(4, lambda i: coupon_redeem(code=coupon.code, order_reference="TILL-1"))

    assert sorted(r[1] for r in results) == [False, False, False, True]


def test_concurrent_issue_respects_stock_and_member_limit():
    template = CouponTemplateFactory(total_stock=5, per_member_limit=2)
    members = [MemberFactory() for _ in range(4)]

    # 12 attempts: 3 per member; the limit allows 2 each (8) but stock only 5.
    results = race(
        12, lambda i: coupon_issue(template=template, member=members[i % 4], issued_via="api")
    )

    issued = [r for r in results if isinstance(r, Coupon)]
    refused = [r for r in results if isinstance(r, CouponUnavailable)]
    assert (len(issued), len(refused)) == (5, 7)
    assert Coupon.objects.filter(template=template).count() == 5
    per_member = [Coupon.objects.filter(template=template, member=m).count() for m in members]
    assert max(per_member) <= 2
    template.refresh_from_db()
    assert template.issued_count == 5


def test_duplicate_purchase_submissions_earn_once():
    member = MemberFactory()

    results = race(
        5,
        lambda i: purchase_record(
            member=Member.objects.get(pk=member.pk),
            order_reference="POS-42",
            total=4200,
            occurred_at=member.joined_at,
            lines=[Line(sku="A", quantity=1, unit_price=4200)],
        ),
    )

    created = [r[1] for r in results if isinstance(r, tuple)]
    assert sorted(created) == [False, False, False, False, True]
    member.refresh_from_db()
    assert member.points_available == 42
    assert LedgerEntry.objects.filter(member=member).count() == 1


def test_concurrent_retries_of_one_idempotent_registration_create_one_member():
    from rest_framework.test import APIClient

    from members.api_keys import api_key_create

    _key, raw = api_key_create(name="POS", scopes=["members:write"])

    def register(i):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")
        response = client.post(
            "/api/v1/members",
            {"email": "same@example.com"},
            format="json",
            HTTP_IDEMPOTENCY_KEY="signup-1",
        )
        return response.status_code, response.json()["member_number"]

    results = race(4, register)

    assert {status for status, _ in results} == {201}
    assert len({number for _, number in results}) == 1
    assert Member.objects.count() == 1
