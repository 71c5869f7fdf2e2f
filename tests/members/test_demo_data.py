import datetime as dt
import io
import re
import zoneinfo

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models import F, Sum
from django.utils import timezone

from loyalty.ledger import ledger_sums
from loyalty.models import Coupon, LedgerEntry, Purchase, PurchaseLine, PurchaseReturn
from loyalty.models.ledger import EntryKind, EntryState
from loyalty.selectors import ledger_drift
from members.api_keys import SCOPES, api_key_verify
from members.contact import normalize_phone
from members.management.commands.demo_data import (
    BIRTHDAY,
    SEASON,
    STORE_ONLY,
    WELCOME,
    CouponRule,
    World,
    member_number_for,
    plan_member,
)
from members.models import Member, Staff, Store, Tier, Visit
from members.numbers import is_valid_member_number

pytestmark = pytest.mark.django_db

ARGS = ("--members", "30", "--months", "3", "--seed", "7")
TOKYO = zoneinfo.ZoneInfo("Asia/Tokyo")


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def demo_data(*args: str) -> str:
    out = io.StringIO()
    call_command("demo_data", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def snapshot() -> dict[str, int]:
    models = [Store, Staff, Tier, Member, Visit, Purchase, PurchaseLine, PurchaseReturn]
    models += [LedgerEntry, Coupon, get_user_model()]
    return {model.__name__: model.objects.count() for model in models}


def world(seed: int = 7) -> World:
    anchor = dt.datetime(2026, 6, 1, tzinfo=TOKYO)
    return World(
        seed=seed,
        months=3,
        anchor=anchor,
        coupons={
            WELCOME: CouponRule(valid_days=30),
            SEASON: CouponRule(
                valid_from=anchor - dt.timedelta(days=40),
                valid_until=anchor + dt.timedelta(days=20),
            ),
            BIRTHDAY: CouponRule(valid_days=14),
            STORE_ONLY: CouponRule(valid_days=60, stores=frozenset({"OSA01"})),
        },
    )


def test_loads_reference_data_and_members():
    demo_data(*ARGS)

    assert Store.objects.count() == 3
    assert set(Store.objects.values_list("prefecture", flat=True)) == {"Tokyo", "Osaka", "Fukuoka"}
    assert Staff.objects.count() == 6
    assert all(store.staff.count() == 2 for store in Store.objects.all())
    tiers = Tier.objects.values_list("code", "rank", "threshold_spend", "earn_multiplier")
    assert [(c, r, t, str(m)) for c, r, t, m in tiers] == [
        ("regular", 0, 0, "1.00"),
        ("silver", 1, 50_000, "1.50"),
        ("gold", 2, 150_000, "2.00"),
    ]
    assert Member.objects.count() == 30
    numbers = list(Member.objects.values_list("member_number", flat=True))
    assert all(len(n) == 16 and n[0] != "0" and is_valid_member_number(n) for n in numbers)
    for member in Member.objects.exclude(status=Member.Status.WITHDRAWN):
        assert member.email.endswith("@example.com")
        assert member.phone is None or normalize_phone(member.phone) == member.phone
        age = (timezone.localdate() - member.birth_date).days // 365
        assert 18 <= age <= 81


def test_purchases_are_consistent_and_follow_joining():
    demo_data(*ARGS)

    assert Purchase.objects.count() > 30
    line_sums = dict(
        PurchaseLine.objects.values_list("purchase").annotate(
            s=Sum(F("quantity") * F("unit_price"))
        )
    )
    for purchase in Purchase.objects.select_related("member", "store", "staff"):
        assert purchase.total == line_sums[purchase.pk]
        assert purchase.occurred_at > purchase.member.joined_at
        assert (purchase.store is None) == (purchase.channel != "store")
        assert purchase.staff is None or purchase.staff.store_id == purchase.store_id
    assert Visit.objects.filter(visited_at__lt=F("member__joined_at")).count() == 0


def test_cached_balances_equal_the_ledger_and_nothing_drifts():
    demo_data(*ARGS)

    sums = ledger_sums()
    zero = {"points_available": 0, "points_pending": 0, "points_debt": 0, "points_lifetime": 0}
    for member in Member.objects.all():
        assert sums.get(member.pk, zero) == {field: getattr(member, field) for field in zero}
    assert ledger_drift() == []


def test_logins_and_groups():
    out = demo_data(*ARGS)

    User = get_user_model()
    staff, marketer, admin = (User.objects.get(username=n) for n in ("staff", "marketer", "admin"))
    assert (staff.is_staff, staff.is_superuser) == (True, False)
    assert list(staff.groups.values_list("name", flat=True)) == ["Store staff"]
    assert staff.staff_profile.code == "TYO01-01"
    assert (marketer.is_staff, marketer.is_superuser) == (True, False)
    assert list(marketer.groups.values_list("name", flat=True)) == ["Marketers"]
    assert (admin.is_staff, admin.is_superuser) == (True, True)
    assert staff.check_password("demo-staff-pass")
    assert marketer.check_password("demo-marketer-pass")
    assert admin.check_password("demo-admin-pass")
    app_user = User.objects.get(username="member")
    assert (app_user.is_staff, app_user.check_password("demo-member-pass")) == (False, True)
    assert app_user.member.status == Member.Status.ACTIVE

    assert "http://127.0.0.1:8000/admin/" in out
    assert (
        f"member app login (for the member API) for member {app_user.member.member_number}" in out
    )
    raw = re.search(r"Integration API key \(Demo POS, all scopes\): (\S+)", out).group(1)
    key = api_key_verify(raw)
    assert (key.name, key.scopes) == ("Demo POS", sorted(SCOPES))
    assert "members 30," in out


def test_rerun_says_already_loaded_and_changes_nothing():
    demo_data(*ARGS)
    before = snapshot()

    out = demo_data(*ARGS)

    assert "demo data already loaded" in out
    assert "staff     / demo-staff-pass" in out
    assert snapshot() == before


def test_an_interrupted_load_resumes_with_the_members_still_missing():
    demo_data("--members", "10", "--months", "3", "--seed", "7")

    out = demo_data(*ARGS)

    assert "20 members (10 already present)" in out
    assert Member.objects.count() == 30
    assert ledger_drift() == []


def test_another_seed_on_top_is_refused():
    demo_data(*ARGS)
    before = snapshot()
    with pytest.raises(CommandError, match="another --seed"):
        demo_data("--members", "30", "--months", "3", "--seed", "8")
    assert snapshot() == before


def test_the_database_holds_exactly_the_planned_members():
    demo_data(*ARGS)
    planned = {member_number_for(7, index) for index in range(1, 31)}
    assert set(Member.objects.values_list("member_number", flat=True)) == planned


def test_plans_are_deterministic_per_seed_and_index():
    first = [plan_member(world(), index) for index in range(1, 31)]
    again = [plan_member(world(), index) for index in range(1, 31)]
    other = [plan_member(world(seed=8), index) for index in range(1, 31)]

    assert first == again
    assert [p.member_number for p in first] == [member_number_for(7, i) for i in range(1, 31)]
    assert len({p.member_number for p in first + other}) == 60
    assert [p.email for p in first[:2]] == ["member00001@example.com", "member00002@example.com"]
    for plan in first:
        assert [e.at for e in plan.events] == sorted(e.at for e in plan.events)
        assert all(e.at < world().anchor for e in plan.events)
        assert all(e.at >= plan.joined_at for e in plan.events)


def test_a_year_exercises_expiry_returns_spends_coupons_and_withdrawal():
    demo_data("--members", "40", "--months", "12", "--seed", "7")

    kinds = set(LedgerEntry.objects.values_list("kind", flat=True))
    assert {EntryKind.EARN, EntryKind.SPEND, EntryKind.REVERSE, EntryKind.EXPIRE} <= kinds
    assert not LedgerEntry.objects.filter(kind=EntryKind.SPEND).exclude(
        reference__startswith="DEMO-SPEND-"
    )
    assert PurchaseReturn.objects.exists()
    assert set(Coupon.objects.values_list("status", flat=True)) == set(Coupon.Status.values)
    assert set(Coupon.objects.values_list("issued_via", flat=True)) == {"demo"}
    assert Member.objects.filter(status=Member.Status.WITHDRAWN, email=None).exists()
    assert Member.objects.exclude(tier__code="regular").exists()
    assert ledger_drift() == []


def test_pending_points_when_there_is_a_return_window(settings):
    settings.LOYALTY_PENDING_DAYS = 14
    demo_data(*ARGS)

    assert LedgerEntry.objects.filter(state=EntryState.PENDING, kind=EntryKind.EARN).exists()
    assert LedgerEntry.objects.filter(kind=EntryKind.RELEASE).exists()
    assert Member.objects.filter(points_pending__gt=0).exists()
    assert ledger_drift() == []


def test_rerun_prints_the_served_url_and_flags_a_changed_password():
    demo_data(*ARGS)
    marketer = get_user_model().objects.get(username="marketer")
    marketer.set_password("a-new-secret-123")
    marketer.save()

    out = demo_data(*ARGS, "--url", "http://127.0.0.1:8123/")

    assert "Admin: http://127.0.0.1:8123/admin/" in out
    assert "marketer  (password changed since the demo was loaded)" in out
    assert "staff     / demo-staff-pass" in out
