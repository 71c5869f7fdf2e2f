import datetime as dt

import pytest

from loyalty.coupons import (
    CODE_ALPHABET,
    coupon_code_display,
    coupon_issue,
    coupon_redeem,
    coupon_void,
    coupons_expire_due,
)
from loyalty.errors import (
    CouponAlreadyUsed,
    CouponError,
    CouponNotUsable,
    CouponNotValidAtStore,
    CouponUnavailable,
)
from loyalty.models import Coupon
from tests.loyalty.factories import CouponTemplateFactory
from tests.members.factories import MemberFactory, StoreFactory

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 5, 1, 9, 0, tzinfo=dt.UTC)


def issue(template, member=None, now=T0):
    return coupon_issue(
        template=template, member=member or MemberFactory(), issued_via="api", now=now
    )


def test_issue_sets_validity_days_after_issue_and_an_unguessable_code():
    template = CouponTemplateFactory(valid_days=30)
    a, b = issue(template), issue(template)
    assert a.valid_until == T0 + dt.timedelta(days=30)
    assert a.status == "issued"
    assert len(a.code) == 12 and set(a.code) <= set(CODE_ALPHABET)
    assert a.code != b.code
    assert coupon_code_display(a.code).count("-") == 2
    template.refresh_from_db()
    assert template.issued_count == 2


def test_issue_with_fixed_window_uses_the_template_end():
    end = T0 + dt.timedelta(days=5)
    template = CouponTemplateFactory(valid_days=None, valid_until=end)
    assert issue(template).valid_until == end
    with pytest.raises(CouponUnavailable):
        issue(template, now=end)


def test_stock_and_per_member_limit_are_enforced():
    template = CouponTemplateFactory(total_stock=2, per_member_limit=1)
    member = MemberFactory()
    issue(template, member)
    with pytest.raises(CouponUnavailable):
        issue(template, member)  # limit 1 per member
    issue(template)
    with pytest.raises(CouponUnavailable):
        issue(template)  # stock of 2 used up
    assert Coupon.objects.filter(template=template).count() == 2


def test_voided_coupon_does_not_count_towards_the_member_limit():
    template = CouponTemplateFactory(per_member_limit=1)
    member = MemberFactory()
    coupon_void(coupon=issue(template, member), reason="wrong member")
    assert issue(template, member).status == "issued"


def test_inactive_template_cannot_issue():
    template = CouponTemplateFactory(is_active=False)
    with pytest.raises(CouponUnavailable):
        issue(template)


def test_redeem_once_then_idempotent_retry_then_conflict_for_another_order():
    coupon = issue(CouponTemplateFactory())
    used, first = coupon_redeem(code=coupon.code, order_reference="T1-0001", now=T0)
    assert (used.status, first, used.order_reference) == ("used", True, "T1-0001")
    retried, again = coupon_redeem(
        code=coupon_code_display(coupon.code).lower(), order_reference="T1-0001", now=T0
    )
    assert (retried.pk, again) == (coupon.pk, False)
    with pytest.raises(CouponAlreadyUsed) as exc:
        coupon_redeem(code=coupon.code, order_reference="T2-0002", now=T0)
    assert exc.value.status == 409
    coupon.refresh_from_db()
    assert coupon.order_reference == "T1-0001"


def test_redeem_refuses_expired_voided_unknown_and_wrong_store():
    store, other = StoreFactory(), StoreFactory()
    template = CouponTemplateFactory(valid_days=1)
    template.stores.add(store)
    coupon = issue(template)
    with pytest.raises(CouponNotValidAtStore):
        coupon_redeem(code=coupon.code, order_reference="A", store=other, now=T0)
    with pytest.raises(CouponNotUsable):
        coupon_redeem(
            code=coupon.code, order_reference="A", store=store, now=T0 + dt.timedelta(days=1)
        )
    with pytest.raises(CouponError) as exc:
        coupon_redeem(code="NOPE", order_reference="A", store=store, now=T0)
    assert exc.value.field == "code"
    voided, first = coupon_void(coupon=issue(template), reason="mistake")
    again, second = coupon_void(coupon=voided, reason="retry")
    assert (first, second, again.void_reason) == (True, False, "mistake")
    with pytest.raises(CouponNotUsable):
        coupon_redeem(code=voided.code, order_reference="A", store=store, now=T0)
    coupon.refresh_from_db()
    assert coupon.status == "issued"
    assert coupon_redeem(code=coupon.code, order_reference="A", store=store, now=T0)[1] is True


def test_used_coupon_cannot_be_voided_and_void_needs_a_reason():
    coupon = issue(CouponTemplateFactory())
    with pytest.raises(CouponError) as exc:
        coupon_void(coupon=coupon, reason=" ")
    assert exc.value.field == "reason"
    coupon_redeem(code=coupon.code, order_reference="X", now=T0)
    with pytest.raises(CouponNotUsable):
        coupon_void(coupon=coupon, reason="too late")


def test_nightly_expiry_is_idempotent():
    template = CouponTemplateFactory(valid_days=3)
    old, fresh = issue(template), issue(template, now=T0 + dt.timedelta(days=2))
    used = issue(template)
    coupon_redeem(code=used.code, order_reference="U", now=T0)
    assert coupons_expire_due(now=T0 + dt.timedelta(days=3)) == 1
    assert coupons_expire_due(now=T0 + dt.timedelta(days=3)) == 0
    statuses = {c.pk: c.status for c in Coupon.objects.all()}
    assert statuses == {old.pk: "expired", fresh.pk: "issued", used.pk: "used"}
