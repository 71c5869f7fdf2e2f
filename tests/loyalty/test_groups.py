"""What each staff group may do: the permissions the migration grants, and what that means on
the admin pages (exact status codes and exact database effects)."""

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from loyalty.coupons import coupon_issue
from loyalty.models import Coupon, CouponTemplate, LedgerEntry
from members.models import Member
from members.services import member_register
from tests.admin_support import MARKETERS, STORE_STAFF, login
from tests.loyalty.factories import CouponTemplateFactory
from tests.members.factories import StoreFactory

pytestmark = pytest.mark.django_db

STORE_MANAGERS = "Store managers"

EXPECTED_PERMISSIONS = {
    STORE_STAFF: {
        "members.view_member",
        "members.add_member",
        "members.change_member",
        "members.view_store",
        "members.view_staff",
        "members.view_tier",
        "members.view_tierchange",
        "members.view_homestorechange",
        "loyalty.view_ledgerentry",
        "loyalty.adjust_points",
        "loyalty.view_purchase",
        "loyalty.view_coupontemplate",
        "loyalty.view_coupon",
        "loyalty.issue_coupon",
        "loyalty.redeem_coupon",
        "loyalty.void_coupon",
        "challenges.view_verification",
        "challenges.change_verification",
        "challenges.view_event",
        "challenges.view_challenge",
    },
    MARKETERS: {
        "members.view_member",
        "members.view_store",
        "members.view_tier",
        "loyalty.view_purchase",
        "loyalty.view_coupon",
        "loyalty.view_coupontemplate",
        "loyalty.add_coupontemplate",
        "loyalty.change_coupontemplate",
        "challenges.view_challenge",
        "challenges.add_challenge",
        "challenges.change_challenge",
        "challenges.view_challengeversion",
        "challenges.view_eventtype",
        "challenges.add_eventtype",
        "challenges.change_eventtype",
        "challenges.view_event",
        "challenges.view_verification",
        "challenges.view_weatherobservation",
        "challenges.add_weatherobservation",
        "challenges.change_weatherobservation",
        "metrics.view_survey",
        "metrics.add_survey",
        "metrics.change_survey",
        "metrics.delete_survey",
        "metrics.view_question",
        "metrics.add_question",
        "metrics.change_question",
        "metrics.delete_question",
        "metrics.view_surveyresponse",
        "metrics.view_answer",
        "metrics.view_kpidashboard",
        "metrics.view_all_stores",
        "metrics.view_kpitarget",
        "metrics.add_kpitarget",
        "metrics.change_kpitarget",
        "metrics.delete_kpitarget",
    },
    # metrics/migrations/0003_dashboard_permissions.py: the KPI dashboard, their store only.
    STORE_MANAGERS: {
        "metrics.view_kpidashboard",
        "metrics.view_kpitarget",
    },
}


@pytest.mark.parametrize("group", [STORE_STAFF, MARKETERS, STORE_MANAGERS])
def test_groups_hold_exactly_their_permissions(group):
    perms = Group.objects.get(name=group).permissions.select_related("content_type")
    assert {f"{p.content_type.app_label}.{p.codename}" for p in perms} == (
        EXPECTED_PERMISSIONS[group]
    )


@pytest.fixture
def world():
    member = member_register(name="Hanako Yamada", phone="090-1234-5678")
    template = CouponTemplateFactory(code="welcome", name="Welcome 500 off")
    coupon = coupon_issue(template=template, member=member, issued_via="api")
    return member, template, coupon


def pages(member, template, coupon):
    return {
        "member list": reverse("admin:members_member_changelist"),
        "member page": reverse("admin:members_member_change", args=[member.pk]),
        "member add": reverse("admin:members_member_add"),
        "adjust points": reverse("admin:members_member_adjust_points", args=[member.pk]),
        "issue coupon": reverse("admin:members_member_issue_coupon", args=[member.pk]),
        "ledger": reverse("admin:loyalty_ledgerentry_changelist"),
        "coupon list": reverse("admin:loyalty_coupon_changelist"),
        "coupon page": reverse("admin:loyalty_coupon_change", args=[coupon.pk]),
        "void coupon": reverse("admin:loyalty_coupon_void", args=[coupon.pk]),
        "redeem coupon": reverse("admin:loyalty_coupon_redeem", args=[coupon.pk]),
        "template list": reverse("admin:loyalty_coupontemplate_changelist"),
        "template page": reverse("admin:loyalty_coupontemplate_change", args=[template.pk]),
        "template add": reverse("admin:loyalty_coupontemplate_add"),
        "purchases": reverse("admin:loyalty_purchase_changelist"),
        "stores": reverse("admin:members_store_changelist"),
        "withdraw": reverse("admin:members_member_withdraw", args=[member.pk]),
    }


GET_STATUS = {
    STORE_STAFF: {
        "member list": 200,
        "member page": 200,
        "member add": 200,
        "adjust points": 200,
        "issue coupon": 200,
        "ledger": 200,
        "coupon list": 200,
        "coupon page": 200,
        "void coupon": 200,
        "redeem coupon": 200,
        "template list": 200,
        "template page": 200,  # view only
        "template add": 403,
        "purchases": 200,
        "stores": 200,
        "withdraw": 403,
    },
    MARKETERS: {
        "member list": 200,
        "member page": 200,  # view only
        "member add": 403,
        "adjust points": 403,
        "issue coupon": 403,
        "ledger": 403,
        "coupon list": 200,
        "coupon page": 200,
        "void coupon": 403,
        "redeem coupon": 403,
        "template list": 200,
        "template page": 200,
        "template add": 200,
        "purchases": 200,
        "stores": 200,
        "withdraw": 403,
    },
}


@pytest.mark.parametrize("group", [STORE_STAFF, MARKETERS])
def test_pages_each_group_may_open(group, world):
    client, _user = login(group=group)
    urls = pages(*world)
    statuses = {name: client.get(target).status_code for name, target in urls.items()}
    assert statuses == GET_STATUS[group]


def test_store_staff_act_on_members_and_coupons_but_not_on_templates(world):
    member, template, coupon = world
    client, user = login(group=STORE_STAFF)
    urls = pages(*world)
    token = client.get(urls["adjust points"]).context["form"].initial["token"]
    adjusted = client.post(urls["adjust points"], {"points": 80, "reason": "Sorry", "token": token})
    other = CouponTemplateFactory(code="other", name="Other 300 off")
    issued = client.post(urls["issue coupon"], {"template": other.pk})
    voided = client.post(urls["void coupon"], {"reason": "Wrong member"})
    second = Coupon.objects.get(template=other)
    redeemed = client.post(
        reverse("admin:loyalty_coupon_redeem", args=[second.pk]),
        {"store": StoreFactory().pk, "order_reference": "ORD-1"},
    )
    assert [r.status_code for r in (adjusted, issued, voided, redeemed)] == [302, 302, 302, 302]
    assert list(LedgerEntry.objects.values_list("points", "reason", "created_by")) == [
        (80, "Sorry", user.pk)
    ]
    assert sorted(Coupon.objects.values_list("template__code", "status")) == [
        ("other", "used"),
        ("welcome", "voided"),
    ]

    template_change = client.post(urls["template page"], {"name": "Renamed"})
    template_add = client.post(urls["template add"], {"code": "new", "name": "New"})
    assert (template_change.status_code, template_add.status_code) == (403, 403)
    assert list(CouponTemplate.objects.order_by("code").values_list("code", "name")) == [
        ("other", "Other 300 off"),
        ("welcome", "Welcome 500 off"),
    ]


def test_marketers_manage_templates_but_not_members_points_or_coupons(world):
    member, template, coupon = world
    client, _user = login(group=MARKETERS)
    urls = pages(*world)
    store = StoreFactory()
    added = client.post(
        urls["template add"],
        {
            "code": "spring",
            "name": "Spring 10% off",
            "description": "",
            "is_active": "on",
            "kind": "percent_off",
            "percent_off": "10",
            "valid_days": "14",
            "stores": [store.pk],
            "per_member_limit": "1",
        },
    )
    assert added.status_code == 302
    spring = CouponTemplate.objects.get(code="spring")
    assert (spring.kind, spring.percent_off, spring.valid_days, list(spring.stores.all())) == (
        "percent_off",
        10,
        14,
        [store],
    )
    # The template with issued coupons keeps its benefit; the rest may change.
    changed = client.post(
        urls["template page"],
        {
            "name": "Welcome 500 off (renamed)",
            "description": "",
            "is_active": "on",
            "valid_days": "60",
            "per_member_limit": "1",
        },
    )
    assert changed.status_code == 302
    template.refresh_from_db()
    assert (template.name, template.valid_days, template.amount_off) == (
        "Welcome 500 off (renamed)",
        60,
        500,
    )

    refused = {
        "adjust points": client.post(
            urls["adjust points"],
            {"points": 80, "reason": "x", "token": "0f6bd0ea-1e0e-4f57-9b1c-2f45d6a1b1a4"},
        ),
        "issue coupon": client.post(urls["issue coupon"], {"template": spring.pk}),
        "void coupon": client.post(urls["void coupon"], {"reason": "x"}),
        "redeem coupon": client.post(
            urls["redeem coupon"], {"store": store.pk, "order_reference": "ORD-1"}
        ),
        "member page": client.post(urls["member page"], {"name": "Changed"}),
        "member add": client.post(urls["member add"], {"name": "New", "gender": "unspecified"}),
    }
    assert {name: r.status_code for name, r in refused.items()} == dict.fromkeys(refused, 403)
    assert LedgerEntry.objects.count() == 0
    assert list(Coupon.objects.values_list("pk", "status")) == [(coupon.pk, "issued")]
    assert list(Member.objects.values_list("name", flat=True)) == ["Hanako Yamada"]
