import datetime as dt

import pytest
from django.core.exceptions import ValidationError

from loyalty.coupons import coupon_issue, coupon_redeem
from loyalty.errors import MemberNotActive
from loyalty.ledger import points_earn, points_spend
from loyalty.models import LedgerEntry
from loyalty.models.ledger import EntrySource
from loyalty.purchases import Line, purchase_record, purchase_return
from members.contact import normalize_email, normalize_phone
from members.models import Member, TierChange
from members.numbers import generate_member_number, is_valid_member_number, luhn_check_digit
from members.services import (
    ContactTaken,
    member_register,
    member_update_contact,
    member_withdraw,
    tiers_recalculate,
)
from tests.loyalty.factories import CouponTemplateFactory
from tests.members.factories import MemberFactory, TierFactory, UserFactory


def test_luhn_check_digit_matches_the_reference_example():
    # The classic Luhn example: 7992739871 has check digit 3.
    assert luhn_check_digit("7992739871") == "3"
    assert is_valid_member_number("799273987130") is False  # wrong length/check mix
    assert is_valid_member_number("4111111111111111") is True  # a well-known Luhn-valid number


def test_generated_member_numbers_are_16_valid_digits_and_not_sequential():
    numbers = {generate_member_number() for _ in range(200)}
    assert len(numbers) == 200
    assert all(len(n) == 16 and n[0] != "0" and is_valid_member_number(n) for n in numbers)
    one = next(iter(numbers))
    typo = one[:5] + str((int(one[5]) + 1) % 10) + one[6:]
    assert is_valid_member_number(typo) is False  # a single mistyped digit is caught


def test_contact_normalisation():
    assert normalize_email("  Hanako@Example.COM ") == "hanako@example.com"
    assert normalize_email("  ") is None
    assert normalize_phone("090-1234-5678") == "+819012345678"
    assert normalize_phone("+81 90 1234 5678") == "+819012345678"
    assert normalize_phone("") is None
    with pytest.raises(ValidationError):
        normalize_phone("12")


@pytest.mark.django_db
def test_register_normalises_and_refuses_taken_contacts():
    entry = TierFactory(rank=0, threshold_spend=0)
    member = member_register(name="Hanako", email="Hanako@Example.com", phone="090-1234-5678")
    assert (member.email, member.phone, member.tier_id) == (
        "hanako@example.com",
        "+819012345678",
        entry.pk,
    )
    assert is_valid_member_number(member.member_number)
    with pytest.raises(ContactTaken) as exc:
        member_register(email="HANAKO@example.com")
    assert exc.value.field == "email"
    with pytest.raises(ContactTaken) as exc:
        member_register(phone="+819012345678")
    assert exc.value.field == "phone"
    other = member_register(email="taro@example.com")
    with pytest.raises(ContactTaken):
        member_update_contact(member=other, phone="09012345678")
    assert Member.objects.count() == 2


@pytest.mark.django_db
def test_withdrawal_keeps_the_ledger_and_anonymises_personal_data():
    user = UserFactory(email="a@example.com", first_name="Hana")
    member = MemberFactory(
        email="a@example.com", phone="+819011112222", birth_date=dt.date(1990, 1, 2), user=user
    )
    points_earn(member=member, points=50, source=EntrySource.API)
    member_withdraw(member=member)
    member.refresh_from_db()
    user.refresh_from_db()
    assert (member.status, member.name, member.email, member.phone, member.birth_date) == (
        "withdrawn",
        "",
        None,
        None,
        None,
    )
    assert member.withdrawn_at is not None
    assert (user.is_active, user.email, user.first_name, user.has_usable_password()) == (
        False,
        "",
        "",
        False,
    )
    assert LedgerEntry.objects.filter(member=member).count() == 1
    assert member.points_available == 50


@pytest.mark.django_db
def test_tiers_follow_rolling_spend_net_of_returns_and_changes_are_recorded():
    regular = TierFactory(code="regular", rank=0, threshold_spend=0)
    silver = TierFactory(code="silver", rank=1, threshold_spend=50_000)
    gold = TierFactory(code="gold", rank=2, threshold_spend=150_000)
    now = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
    big, small, lapsed = (
        MemberFactory(tier=regular),
        MemberFactory(tier=regular),
        MemberFactory(tier=gold),
    )

    def buy(member, ref, total, days_ago):
        purchase_record(
            member=member,
            order_reference=ref,
            total=total,
            occurred_at=now - dt.timedelta(days=days_ago),
            lines=[Line(sku="X", quantity=1, unit_price=total)],
        )

    buy(big, "B1", 100_000, 10)
    buy(big, "B2", 60_000, 200)
    buy(small, "S1", 70_000, 30)
    purchase_return(order_reference="S1", return_reference="S1-R", amount=30_000)  # net 40,000
    buy(lapsed, "L1", 500_000, 400)  # outside the 365-day window

    assert tiers_recalculate(now=now) == 2
    assert tiers_recalculate(now=now) == 0  # re-running the same night changes nothing
    tiers = dict(Member.objects.values_list("pk", "tier__code"))
    assert tiers == {big.pk: "gold", small.pk: "regular", lapsed.pk: "regular"}
    changes = set(
        TierChange.objects.values_list("member_id", "from_tier_id", "to_tier_id", "window_spend")
    )
    assert changes == {(big.pk, regular.pk, gold.pk, 160_000), (lapsed.pk, gold.pk, regular.pk, 0)}
    assert silver.pk not in {c[2] for c in changes}


@pytest.mark.django_db
def test_withdrawn_member_cannot_spend_and_unused_coupons_are_voided():
    member = MemberFactory()
    points_earn(member=member, points=50, source=EntrySource.API)
    template = CouponTemplateFactory(per_member_limit=None)
    unused = coupon_issue(template=template, member=member, issued_via="api")
    used = coupon_issue(template=template, member=member, issued_via="api")
    coupon_redeem(code=used.code, order_reference="ORD-1")

    member_withdraw(member=member)

    with pytest.raises(MemberNotActive):
        points_spend(member=member, points=10, reference="X")
    unused.refresh_from_db()
    used.refresh_from_db()
    assert (unused.status, unused.void_reason, used.status) == ("voided", "member withdrew", "used")
    member.refresh_from_db()
    assert member.points_available == 50
