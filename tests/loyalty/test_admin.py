"""The ledger, coupon and purchase pages of the staff admin."""

import datetime as dt

import pytest
from django.contrib import admin
from django.urls import reverse
from django.utils import timezone

from loyalty.coupons import coupon_code_display, coupon_issue, coupon_redeem
from loyalty.ledger import points_adjust, points_earn
from loyalty.models import Coupon, CouponTemplate, LedgerEntry
from loyalty.models.ledger import EntrySource
from loyalty.purchases import Line, purchase_record
from members.api_keys import api_key_create
from members.models import TierChange, Visit
from members.services import member_home_store_change, member_register
from tests.admin_support import (
    form_errors,
    messages_of,
    result_pks,
)
from tests.loyalty.factories import CouponTemplateFactory
from tests.members.factories import StaffFactory, StoreFactory, TierFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def member():
    return member_register(name="Hanako Yamada", phone="090-1234-5678")


@pytest.fixture
def coupon(member):
    return coupon_issue(template=CouponTemplateFactory(), member=member, issued_via="api")


def url(name, *args):
    return reverse(f"admin:{name}", args=args)


def test_site_header_names_the_product(staff):
    client, _user = staff
    response = client.get(url("index"))
    assert response.status_code == 200
    assert '<a href="/admin/">Loyalty engine</a>' in response.text
    assert "<title>Administration | Loyalty engine</title>" in response.text


# --- ledger ---------------------------------------------------------------------------------


def test_ledger_entries_cannot_be_added_changed_or_deleted_even_by_a_superuser(superuser, member):
    client, user = superuser
    entry, _ = points_adjust(member=member, points=100, reason="Welcome", created_by=user)
    assert client.get(url("loyalty_ledgerentry_add")).status_code == 403
    assert client.post(url("loyalty_ledgerentry_add"), {"points": "5"}).status_code == 403
    page = client.get(url("loyalty_ledgerentry_change", entry.pk))
    assert page.status_code == 200  # viewing is fine
    assert page.context["has_change_permission"] is False
    assert 'name="_save"' not in page.text
    changed = client.post(url("loyalty_ledgerentry_change", entry.pk), {"points": "1000"})
    assert changed.status_code == 403
    assert client.get(url("loyalty_ledgerentry_delete", entry.pk)).status_code == 403
    assert (
        client.post(url("loyalty_ledgerentry_delete", entry.pk), {"post": "yes"}).status_code == 403
    )
    changelist = client.get(url("loyalty_ledgerentry_changelist"))
    assert changelist.context["action_form"] is None  # not even "delete selected"
    assert list(LedgerEntry.objects.values_list("pk", "points", "reason")) == [
        (entry.pk, 100, "Welcome")
    ]


def test_ledger_list_filters_and_searches_by_member_number(staff, member):
    client, user = staff
    other = member_register(name="Other")
    earn = points_earn(member=member, points=10, source=EntrySource.API)
    adjust, _ = points_adjust(member=member, points=5, reason="Goodwill", created_by=user)
    points_earn(member=other, points=20, source=EntrySource.API)
    changelist = url("loyalty_ledgerentry_changelist")

    by_number = client.get(changelist, {"q": member.member_number})
    assert by_number.status_code == 200
    assert sorted(result_pks(by_number)) == sorted([earn.pk, adjust.pk])
    by_kind = client.get(changelist, {"kind__exact": "adjust"})
    assert result_pks(by_kind) == [adjust.pk]
    by_source = client.get(changelist, {"source__exact": "staff", "state__exact": "available"})
    assert result_pks(by_source) == [adjust.pk]


def test_a_challenge_awards_reference_links_to_the_event_it_answered(staff):
    from challenges.intake import events_ingest
    from challenges.models import Event
    from tests.challenges.support import event, preset, process
    from tests.members.factories import MemberFactory

    client, _user = staff
    member = MemberFactory()  # a member before the event
    preset("survey_answered", survey="nps", points=30)
    answered = event("S-1", member, "survey_answered", payload={"survey": "nps", "score": 9})
    events_ingest(source_key="test", items=[answered])
    assert process() == 1
    followed = Event.objects.get(client_id="S-1")
    award = LedgerEntry.objects.get(member=member, source=EntrySource.CHALLENGE)
    api = points_earn(member=member, points=10, source=EntrySource.API, reference="7:8:9")
    event_page = url("challenges_event_change", followed.pk)
    assert award.reference.startswith(f"{followed.pk}:")

    listed = client.get(url("loyalty_ledgerentry_changelist"))
    assert f'<a href="{event_page}" title="Event {followed.pk}, challenge version' in listed.text
    # Not a challenge's: the same shape of reference is only text.
    assert '<td class="field-reference_link">7:8:9</td>' in listed.text
    detail = client.get(url("loyalty_ledgerentry_change", award.pk))
    assert f'<a href="{event_page}"' in detail.text
    assert client.get(event_page).status_code == 200  # store staff may follow it
    assert client.get(url("loyalty_ledgerentry_change", api.pk)).status_code == 200


def test_marketers_do_not_see_the_ledger(marketer, member):
    client, _user = marketer
    assert client.get(url("loyalty_ledgerentry_changelist")).status_code == 403


# --- coupon templates -----------------------------------------------------------------------


def test_template_with_coupons_cannot_be_deleted_even_by_a_superuser(superuser, coupon):
    client, _user = superuser
    used_template = coupon.template
    unused_template = CouponTemplateFactory()
    assert client.get(url("loyalty_coupontemplate_delete", used_template.pk)).status_code == 403
    assert client.get(url("loyalty_coupontemplate_delete", unused_template.pk)).status_code == 200
    assert CouponTemplate.objects.count() == 2


def test_template_form_explains_what_the_constraints_need(marketer):
    client, _user = marketer
    response = client.post(
        url("loyalty_coupontemplate_add"),
        {
            "code": "ten-pct",
            "name": "10% off",
            "kind": "percent_off",
            "amount_off": "300",
            "percent_off": "",
            "valid_days": "",
            "valid_until_0": "",
            "valid_until_1": "",
            "per_member_limit": "1",
            "is_active": "on",
        },
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {
        "percent_off": ["Enter a percentage from 1 to 100."],
        "amount_off": ["Leave empty unless the coupon takes a fixed amount off."],
        "valid_days": [
            "Set either a fixed end of validity or a number of days after issue (one of the two)."
        ],
    }
    assert CouponTemplate.objects.count() == 0


def test_template_benefit_is_frozen_once_coupons_are_issued(marketer, coupon):
    client, _user = marketer
    fresh = CouponTemplateFactory()
    issued = client.get(url("loyalty_coupontemplate_change", coupon.template.pk))
    assert sorted(issued.context["adminform"].form.fields) == [
        "description",
        "is_active",
        "name",
        "per_member_limit",
        "stores",
        "total_stock",
        "valid_days",
        "valid_from",
        "valid_until",
    ]
    unissued = client.get(url("loyalty_coupontemplate_change", fresh.pk))
    assert "amount_off" in unissued.context["adminform"].form.fields


# --- coupons --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "term",
    ["{code}", "{printed}", "{printed_lower}", "{spaced}", "{number}"],
)
def test_coupon_search_by_code_as_printed_or_member_number(staff, coupon, term):
    client, _user = staff
    other = coupon_issue(
        template=CouponTemplateFactory(), member=member_register(name="Other"), issued_via="api"
    )
    printed = coupon_code_display(coupon.code)
    q = term.format(
        code=coupon.code,
        printed=printed,
        printed_lower=printed.lower(),
        spaced=printed.replace("-", " "),
        number=coupon.member.member_number,
    )
    response = client.get(url("loyalty_coupon_changelist"), {"q": q})
    assert response.status_code == 200
    assert result_pks(response) == [coupon.pk]
    assert other.pk not in result_pks(response)
    assert f">{printed}</a></th>" in response.text  # codes are listed grouped, as printed


def test_coupons_are_never_added_or_deleted_through_the_admin(superuser, coupon):
    client, _user = superuser
    assert client.get(url("loyalty_coupon_add")).status_code == 403
    assert client.get(url("loyalty_coupon_delete", coupon.pk)).status_code == 403
    assert client.post(url("loyalty_coupon_delete", coupon.pk), {"post": "yes"}).status_code == 403
    assert Coupon.objects.filter(pk=coupon.pk, status="issued").exists()


def test_used_coupon_cannot_be_changed_or_deleted(superuser, coupon):
    client, _user = superuser
    coupon_redeem(code=coupon.code, order_reference="ORD-1")
    page = client.get(url("loyalty_coupon_change", coupon.pk))
    assert page.status_code == 200
    assert page.context["has_change_permission"] is False
    assert url("loyalty_coupon_redeem", coupon.pk) not in page.text
    assert url("loyalty_coupon_void", coupon.pk) not in page.text
    response = client.post(url("loyalty_coupon_change", coupon.pk), {"order_reference": "X"})
    assert response.status_code == 403
    assert client.post(url("loyalty_coupon_delete", coupon.pk), {"post": "yes"}).status_code == 403
    coupon.refresh_from_db()
    assert (coupon.status, coupon.order_reference) == ("used", "ORD-1")


def test_issued_coupon_page_offers_redeem_and_void_to_store_staff(staff, coupon):
    client, _user = staff
    page = client.get(url("loyalty_coupon_change", coupon.pk))
    assert page.status_code == 200
    assert page.context["subtitle"] == coupon_code_display(coupon.code)  # as printed
    assert url("loyalty_coupon_redeem", coupon.pk) in page.text
    assert url("loyalty_coupon_void", coupon.pk) in page.text


def test_void_needs_a_reason_then_voids(staff, coupon):
    client, user = staff
    void = url("loyalty_coupon_void", coupon.pk)
    assert client.get(void).status_code == 200
    refused = client.post(void, {"reason": ""})
    assert refused.status_code == 200
    assert form_errors(refused) == {"reason": ["This field is required."]}
    coupon.refresh_from_db()
    assert coupon.status == "issued"

    response = client.post(void, {"reason": "Issued to the wrong member"})
    assert response.status_code == 302
    assert response["Location"] == url("loyalty_coupon_change", coupon.pk)
    coupon.refresh_from_db()
    assert (coupon.status, coupon.voided_by, coupon.void_reason) == (
        "voided",
        user,
        "Issued to the wrong member",
    )
    assert coupon.voided_at is not None


def test_void_a_used_coupon_shows_why_not(staff, coupon):
    client, _user = staff
    coupon_redeem(code=coupon.code, order_reference="ORD-1")
    response = client.post(url("loyalty_coupon_void", coupon.pk), {"reason": "Oops"})
    assert response.status_code == 200
    assert form_errors(response) == {
        "__all__": ["Only an unused coupon can be voided; this one is used."]
    }
    coupon.refresh_from_db()
    assert coupon.status == "used"


def test_void_action_voids_the_selected_unused_coupons(staff, member, coupon):
    client, user = staff
    second = coupon_issue(template=CouponTemplateFactory(), member=member, issued_via="api")
    used = coupon_issue(template=CouponTemplateFactory(), member=member, issued_via="api")
    coupon_redeem(code=used.code, order_reference="ORD-9")
    selection = {"action": "void_selected", "_selected_action": [coupon.pk, second.pk, used.pk]}
    confirm = client.post(url("loyalty_coupon_changelist"), {**selection, "index": "0"})
    assert confirm.status_code == 200
    assert Coupon.objects.filter(status="voided").count() == 0

    without_reason = client.post(url("loyalty_coupon_changelist"), {**selection, "post": "yes"})
    assert without_reason.status_code == 200
    assert form_errors(without_reason) == {"reason": ["This field is required."]}

    response = client.post(
        url("loyalty_coupon_changelist"), {**selection, "post": "yes", "reason": "Campaign ended"}
    )
    assert response.status_code == 302
    assert sorted(
        Coupon.objects.filter(
            status="voided", voided_by=user, void_reason="Campaign ended"
        ).values_list("pk", flat=True)
    ) == sorted([coupon.pk, second.pk])
    assert Coupon.objects.get(pk=used.pk).status == "used"
    assert messages_of(response) == [
        "2 coupons voided.",
        f"Not voided: {coupon_code_display(used.code)}: "
        "Only an unused coupon can be voided; this one is used.",
    ]


def test_redeem_at_the_counter_once_and_a_second_order_is_a_conflict(staff, coupon):
    client, user = staff
    store = StoreFactory()
    StaffFactory(user=user, store=store)
    redeem = url("loyalty_coupon_redeem", coupon.pk)
    page = client.get(redeem)
    assert page.status_code == 200
    assert page.context["form"].initial == {"store": store.pk}  # the staff member's store

    response = client.post(redeem, {"store": store.pk, "order_reference": "ORD-1"})
    assert response.status_code == 302
    coupon.refresh_from_db()
    assert (coupon.status, coupon.order_reference, coupon.used_store) == ("used", "ORD-1", store)
    assert coupon.used_at is not None

    conflict = client.post(redeem, {"store": store.pk, "order_reference": "ORD-2"})
    assert conflict.status_code == 200
    assert form_errors(conflict) == {"__all__": ["This coupon was already used for another order."]}
    retry = client.post(redeem, {"store": store.pk, "order_reference": "ORD-1"})
    assert retry.status_code == 302
    assert messages_of(retry)[-1] == (
        f"Coupon {coupon_code_display(coupon.code)} was already used for order ORD-1."
    )
    coupon.refresh_from_db()
    assert (coupon.status, coupon.order_reference) == ("used", "ORD-1")


def test_redeem_at_a_store_where_the_coupon_is_not_valid(staff, member):
    client, _user = staff
    valid_store, other_store = StoreFactory(), StoreFactory()
    template = CouponTemplateFactory()
    template.stores.set([valid_store])
    coupon = coupon_issue(template=template, member=member, issued_via="api")
    response = client.post(
        url("loyalty_coupon_redeem", coupon.pk),
        {"store": other_store.pk, "order_reference": "ORD-1"},
    )
    assert response.status_code == 200
    assert form_errors(response) == {"store": ["This coupon is not valid at this store."]}
    coupon.refresh_from_db()
    assert coupon.status == "issued"


def test_redeem_needs_an_order_reference(staff, coupon):
    client, _user = staff
    response = client.post(
        url("loyalty_coupon_redeem", coupon.pk),
        {"store": StoreFactory().pk, "order_reference": "  "},
    )
    assert form_errors(response) == {"order_reference": ["This field is required."]}
    coupon.refresh_from_db()
    assert coupon.status == "issued"


# --- purchases ------------------------------------------------------------------------------


def test_purchase_page_shows_its_lines_to_store_staff_read_only(staff, member):
    client, _user = staff
    purchase, _created = purchase_record(
        member=member,
        order_reference="ORD-77",
        total=1_500,
        occurred_at=timezone.now(),
        lines=[Line(sku="TEA-1", quantity=2, unit_price=500), Line("CUP-1", 1, 500)],
    )
    page = client.get(url("loyalty_purchase_change", purchase.pk))
    assert page.status_code == 200
    assert page.context["has_change_permission"] is False
    (lines,) = [
        inline
        for inline in page.context["inline_admin_formsets"]
        if inline.opts.model.__name__ == "PurchaseLine"
    ]
    assert sorted(form.original.sku for form in lines) == ["CUP-1", "TEA-1"]
    listing = client.get(url("loyalty_purchase_changelist"), {"q": "ORD-77"})
    assert result_pks(listing) == [purchase.pk]
    assert client.get(url("loyalty_purchase_add")).status_code == 403


def test_every_admin_page_opens_for_a_superuser(superuser, member, coupon):
    """Smoke: each registered model's list (searched and date-drilled) and first object page."""
    client, user = superuser
    store = StoreFactory()
    StaffFactory(store=store, user=user)
    tier = TierFactory()
    TierChange.objects.create(member=member, from_tier=None, to_tier=tier, window_spend=0)
    member_home_store_change(member=member, store=store)
    Visit.objects.create(member=member, store=store, visited_at=timezone.now())
    api_key_create(name="POS", scopes=["events:write"])
    purchase_record(
        member=member,
        order_reference="ORD-1",
        total=2_000,
        occurred_at=timezone.now(),
        store=store,
        lines=[Line("TEA-1", 1, 2_000)],
    )
    statuses = {}
    for model, model_admin in admin.site._registry.items():
        opts = model._meta
        if opts.app_label not in {"members", "loyalty"}:
            continue
        name = f"{opts.app_label}_{opts.model_name}"
        listing = client.get(url(f"{name}_changelist"), {"q": member.member_number})
        statuses[f"{name} list"] = listing.status_code
        if model_admin.date_hierarchy:
            year = {f"{model_admin.date_hierarchy}__year": timezone.localdate().year}
            statuses[f"{name} year"] = client.get(url(f"{name}_changelist"), year).status_code
        first = model.objects.order_by("pk").first()
        statuses[f"{name} page"] = client.get(url(f"{name}_change", first.pk)).status_code
    assert statuses == dict.fromkeys(statuses, 200)
    assert len(statuses) == 34  # 13 models: 13 lists, 13 pages, 8 date drill-downs


def test_template_validity_column_is_in_local_time():
    template = CouponTemplateFactory(
        valid_days=None, valid_until=dt.datetime(2026, 12, 11, 15, 0, tzinfo=dt.UTC)
    )
    column = admin.site._registry[CouponTemplate].validity(template)
    assert column == "until Dec. 12, 2026, midnight"  # 15:00 UTC is midnight in Tokyo
