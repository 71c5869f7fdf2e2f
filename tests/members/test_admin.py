"""The member pages of the staff admin, driven through the test client as staff would."""

import datetime as dt

import pytest
from django.contrib.admin.models import LogEntry
from django.urls import reverse
from django.utils import formats, timezone

from loyalty.ledger import points_earn, points_spend
from loyalty.models import Coupon, LedgerEntry
from loyalty.models.ledger import EntrySource
from loyalty.purchases import purchase_record, purchase_return
from members.models import HomeStoreChange, Member
from members.numbers import is_valid_member_number
from members.services import member_register, member_withdraw
from tests.admin_support import (
    form_errors,
    messages_of,
    readonly_values,
    result_pks,
)
from tests.loyalty.factories import CouponTemplateFactory
from tests.members.factories import StoreFactory, TierFactory

pytestmark = pytest.mark.django_db


def changelist_url():
    return reverse("admin:members_member_changelist")


def change_url(member):
    return reverse("admin:members_member_change", args=[member.pk])


def adjust_url(member):
    return reverse("admin:members_member_adjust_points", args=[member.pk])


def issue_url(member):
    return reverse("admin:members_member_issue_coupon", args=[member.pk])


def withdraw_url(member):
    return reverse("admin:members_member_withdraw", args=[member.pk])


def change_form_data(response, **changes):
    """What the browser would post back from a change page: the form's current values, the
    inlines' management forms, and `changes`."""
    data = {}
    for bound in response.context["adminform"].form:
        value = bound.value()
        data[bound.html_name] = "" if value is None else value
    for inline in response.context["inline_admin_formsets"]:
        management = inline.formset.management_form
        for name in management.fields:
            data[management.add_prefix(name)] = management[name].value()
    data.update(changes)
    return data


@pytest.fixture
def hanako():
    return member_register(name="Hanako Yamada", email="hanako@example.com", phone="090-1234-5678")


@pytest.fixture
def taro():
    return member_register(name="Taro Suzuki", email="taro@example.jp", phone="090-8765-4321")


# --- search ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "term",
    [
        "{number}",  # as stored
        "{spaced}",  # as printed on the card
        "090-1234-5678",  # phone, national format
        "+81 90 1234 5678",  # phone, international format
        "HANAKO@example.com",  # e-mail, any case
        "yamada",  # part of the name
    ],
)
def test_search_finds_the_member_from_any_identifier(staff, hanako, taro, term):
    client, _user = staff
    number = hanako.member_number
    spaced = " ".join(number[i : i + 4] for i in range(0, 16, 4))
    response = client.get(changelist_url(), {"q": term.format(number=number, spaced=spaced)})
    assert response.status_code == 200
    assert result_pks(response) == [hanako.pk]


def test_search_with_an_unknown_identifier_finds_nobody(staff, hanako, taro):
    client, _user = staff
    for term in ["090-0000-0000", "nobody@example.com", "1234567890123452"]:
        response = client.get(changelist_url(), {"q": term})
        assert response.status_code == 200
        assert result_pks(response) == []


def test_marketer_can_list_and_search_members(marketer, hanako, taro):
    client, _user = marketer
    response = client.get(changelist_url(), {"q": "090-8765-4321"})
    assert response.status_code == 200
    assert result_pks(response) == [taro.pk]


# --- the member page ----------------------------------------------------------------------------


def test_member_page_shows_balances_and_points_expiring_soon(staff, hanako):
    client, _user = staff
    now = timezone.now()
    points_earn(
        member=hanako, points=300, source=EntrySource.API, expires_at=now + dt.timedelta(10)
    )
    points_earn(
        member=hanako, points=200, source=EntrySource.API, expires_at=now + dt.timedelta(200)
    )
    points_earn(
        member=hanako, points=50, source=EntrySource.API, available_at=now + dt.timedelta(7)
    )
    response = client.get(change_url(hanako))
    assert response.status_code == 200
    values = readonly_values(response)
    until = formats.date_format(timezone.localtime(now + dt.timedelta(days=30)))
    assert values["member_number"] == hanako.member_number
    assert values["points_available"] == "500"
    assert values["points_pending"] == "50"
    assert values["points_debt"] == "0"
    assert values["points_lifetime"] == "550"
    assert values["points_expiring_soon"] == f"300 within 30 days (by {until})"
    # The member number is never an input.
    assert "member_number" not in response.context["adminform"].form.fields


def test_member_page_shows_points_owed_after_a_return_of_spent_points(staff, hanako):
    client, _user = staff
    purchase_record(member=hanako, order_reference="R-1", total=10_000, occurred_at=timezone.now())
    points_spend(member=hanako, points=100, reference="gift")
    purchase_return(order_reference="R-1", return_reference="R-1-ret", amount=10_000)
    response = client.get(change_url(hanako))
    values = readonly_values(response)
    assert (values["points_available"], values["points_debt"], values["points_lifetime"]) == (
        "0",
        "100",
        "0",
    )


def test_member_page_ledger_inline_shows_the_latest_20_and_links_to_all(staff, hanako, taro):
    client, _user = staff
    for i in range(25):
        points_earn(member=hanako, points=i + 1, source=EntrySource.API, reason=f"entry {i}")
    points_earn(member=taro, points=7, source=EntrySource.API)
    response = client.get(change_url(hanako))
    assert response.status_code == 200
    (ledger,) = [
        inline
        for inline in response.context["inline_admin_formsets"]
        if inline.opts.model is LedgerEntry
    ]
    newest_first = LedgerEntry.objects.filter(member=hanako).order_by("-occurred_at", "-id")
    assert [form.original.pk for form in ledger] == [e.pk for e in newest_first[:20]]
    assert [form.original.points for form in ledger][:3] == [25, 24, 23]
    see_all = f"/admin/loyalty/ledgerentry/?member__id__exact={hanako.pk}"
    assert f'<a href="{see_all}">See all 25 entries</a>' in response.text
    assert "Showing the latest 20 of 25 entries." in response.text

    listing = client.get(see_all)
    assert listing.status_code == 200
    assert listing.context["subtitle"] == str(hanako)  # says whose ledger this is
    assert sorted(result_pks(listing)) == sorted(e.pk for e in newest_first)


def test_member_page_for_store_staff_has_the_action_buttons(staff, hanako):
    client, _user = staff
    response = client.get(change_url(hanako))
    assert adjust_url(hanako) in response.text
    assert issue_url(hanako) in response.text
    assert withdraw_url(hanako) not in response.text  # withdrawal is not a counter task


def test_member_page_for_a_marketer_is_view_only_without_ledger_or_buttons(marketer, hanako):
    client, _user = marketer
    points_earn(member=hanako, points=10, source=EntrySource.API)
    response = client.get(change_url(hanako))
    assert response.status_code == 200
    assert response.context["has_change_permission"] is False
    models = [inline.opts.model for inline in response.context["inline_admin_formsets"]]
    assert models == [Coupon]  # no ledger, no tier history: not in the group's permissions
    assert adjust_url(hanako) not in response.text
    assert issue_url(hanako) not in response.text


# --- adjust points --------------------------------------------------------------------------


def adjust(client, member, **data):
    token = client.get(adjust_url(member)).context["form"].initial["token"]
    return client.post(adjust_url(member), {"token": token, **data})


def test_adjust_points_with_a_reason_writes_exactly_one_entry_by_the_staff_user(staff, hanako):
    client, user = staff
    response = adjust(client, hanako, points="150", reason="Goodwill: broken cup")
    assert response.status_code == 302
    assert response["Location"] == change_url(hanako)
    entries = list(
        LedgerEntry.objects.filter(member=hanako).values_list(
            "points", "kind", "state", "source", "reason", "created_by"
        )
    )
    assert entries == [(150, "adjust", "available", "staff", "Goodwill: broken cup", user.pk)]
    hanako.refresh_from_db()
    assert hanako.points_available == 150
    assert messages_of(response) == [f"+150 points recorded for {hanako}."]
    # The member's admin history says who did it, beside the ledger's created_by.
    assert list(
        LogEntry.objects.filter(object_id=str(hanako.pk)).values_list("user", "change_message")
    ) == [(user.pk, "Adjusted points by +150: Goodwill: broken cup")]


def test_adjust_points_negative_takes_available_points(staff, hanako):
    client, user = staff
    points_earn(member=hanako, points=100, source=EntrySource.API)
    response = adjust(client, hanako, points="-40", reason="Returned gift")
    assert response.status_code == 302
    entry = LedgerEntry.objects.get(member=hanako, kind="adjust")
    assert (entry.points, entry.reason, entry.created_by_id) == (-40, "Returned gift", user.pk)
    hanako.refresh_from_db()
    assert hanako.points_available == 60


def test_adjust_points_resent_form_adjusts_once(staff, hanako):
    client, _user = staff
    token = client.get(adjust_url(hanako)).context["form"].initial["token"]
    data = {"token": token, "points": "30", "reason": "Birthday"}
    first = client.post(adjust_url(hanako), data, follow=True)  # the page shows its message
    second = client.post(adjust_url(hanako), data)
    assert (first.redirect_chain, second.status_code) == ([(change_url(hanako), 302)], 302)
    assert LedgerEntry.objects.filter(member=hanako).count() == 1
    hanako.refresh_from_db()
    assert hanako.points_available == 30
    assert messages_of(second) == ["This adjustment was already recorded."]


@pytest.mark.parametrize(
    ("points", "reason", "errors"),
    [
        ("25", "", {"reason": ["This field is required."]}),
        ("25", "   ", {"reason": ["This field is required."]}),
        ("0", "Typo", {"points": ["Enter a number of points other than zero."]}),
        ("abc", "Typo", {"points": ["Enter a whole number."]}),
        ("-50", "Correction", {"points": ["Only 0 points are available; 50 requested."]}),
    ],
)
def test_adjust_points_refused_shows_the_form_with_the_error_and_writes_nothing(
    staff, hanako, points, reason, errors
):
    client, _user = staff
    response = adjust(client, hanako, points=points, reason=reason)
    assert response.status_code == 200
    assert form_errors(response) == errors
    assert LedgerEntry.objects.filter(member=hanako).count() == 0
    hanako.refresh_from_db()
    assert hanako.points_available == 0


def test_marketer_may_not_adjust_points(marketer, hanako):
    client, _user = marketer
    assert client.get(adjust_url(hanako)).status_code == 403
    response = client.post(
        adjust_url(hanako),
        {"points": "100", "reason": "x", "token": "0f6bd0ea-1e0e-4f57-9b1c-2f45d6a1b1a4"},
    )
    assert response.status_code == 403
    assert LedgerEntry.objects.count() == 0


def test_adjust_points_for_a_missing_member_redirects_with_a_message(staff):
    client, _user = staff
    response = client.get(reverse("admin:members_member_adjust_points", args=[999999]))
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:index")


# --- coupons from the member page ---------------------------------------------------------------


def test_issue_coupon_creates_one_coupon_issued_by_the_staff_user(staff, hanako):
    client, user = staff
    template = CouponTemplateFactory(valid_days=30)
    inactive = CouponTemplateFactory(is_active=False)
    page = client.get(issue_url(hanako))
    assert page.status_code == 200
    assert list(page.context["form"].fields["template"].queryset) == [template]

    response = client.post(issue_url(hanako), {"template": template.pk})
    assert response.status_code == 302
    coupon = Coupon.objects.get(member=hanako)
    assert (coupon.template, coupon.status, coupon.issued_via, coupon.issued_by) == (
        template,
        "issued",
        "staff",
        user,
    )
    # The limit of one per member shows as a form error; an inactive template is no choice.
    again = client.post(issue_url(hanako), {"template": template.pk})
    assert again.status_code == 200
    assert form_errors(again) == {
        "template": ["The member already has the maximum number of this coupon."]
    }
    refused = client.post(issue_url(hanako), {"template": inactive.pk})
    assert form_errors(refused) == {
        "template": ["Select a valid choice. That choice is not one of the available choices."]
    }
    assert Coupon.objects.filter(member=hanako).count() == 1


def test_marketer_may_not_issue_coupons(marketer, hanako):
    client, _user = marketer
    template = CouponTemplateFactory()
    assert client.get(issue_url(hanako)).status_code == 403
    assert client.post(issue_url(hanako), {"template": template.pk}).status_code == 403
    assert Coupon.objects.count() == 0


def test_issue_coupon_action_issues_to_each_active_selected_member(staff, hanako, taro):
    client, user = staff
    template = CouponTemplateFactory()
    member_withdraw(member=taro)
    selection = {"action": "issue_coupon_to_selected", "_selected_action": [hanako.pk, taro.pk]}
    confirm = client.post(changelist_url(), {**selection, "index": "0"})
    assert confirm.status_code == 200
    assert sorted(m.pk for m in confirm.context["selected"]) == sorted([hanako.pk, taro.pk])
    assert Coupon.objects.count() == 0

    response = client.post(changelist_url(), {**selection, "post": "yes", "template": template.pk})
    assert response.status_code == 302
    assert list(Coupon.objects.values_list("member", "issued_by")) == [(hanako.pk, user.pk)]
    assert messages_of(response) == [
        "1 coupon issued.",
        f"Not issued to 1 member: {taro.member_number}: The member is not active.",
    ]


# --- registration and contact changes ----------------------------------------------------------


def test_adding_a_member_registers_through_the_service(staff):
    client, _user = staff
    entry_tier = TierFactory(rank=0, threshold_spend=0)
    store = StoreFactory()
    response = client.post(
        reverse("admin:members_member_add"),
        {
            "name": "Sakura Ito",
            "email": " Sakura@Example.COM ",
            "phone": "090-2222-3333",
            "birth_date": "1990-04-01",
            "gender": "female",
            "home_store": store.pk,
        },
    )
    assert response.status_code == 302
    member = Member.objects.get()
    assert is_valid_member_number(member.member_number) and len(member.member_number) == 16
    assert (member.email, member.phone, member.tier, member.home_store) == (
        "sakura@example.com",
        "+819022223333",
        entry_tier,
        store,
    )
    assert (member.birth_date, member.gender, member.status) == (
        dt.date(1990, 4, 1),
        "female",
        "active",
    )


def test_adding_a_member_with_a_taken_phone_is_refused_on_the_form(staff, hanako):
    client, _user = staff
    response = client.post(
        reverse("admin:members_member_add"),
        {"name": "Copy", "email": "", "phone": "+81 90 1234 5678", "gender": "unspecified"},
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {
        "phone": ["Member with this Phone already exists."]
    }
    assert Member.objects.count() == 1


def test_adding_a_member_with_an_invalid_phone_is_refused_on_the_form(staff):
    client, _user = staff
    response = client.post(
        reverse("admin:members_member_add"),
        {"name": "X", "email": "", "phone": "12", "gender": "unspecified"},
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {"phone": ["Enter a valid phone number."]}
    assert Member.objects.count() == 0


def test_adding_a_member_born_in_the_future_is_refused_on_the_form(staff):
    client, _user = staff
    tomorrow = timezone.localdate() + dt.timedelta(days=1)
    response = client.post(
        reverse("admin:members_member_add"),
        {"name": "X", "email": "", "birth_date": tomorrow.isoformat(), "gender": "unspecified"},
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {
        "birth_date": ["A birth date can't be in the future."]
    }
    assert Member.objects.count() == 0


def test_changing_contact_and_profile(staff, hanako):
    client, _user = staff
    page = client.get(change_url(hanako))
    response = client.post(
        change_url(hanako),
        change_form_data(
            page, email="Hanako.New@Example.com", phone="090 5555 6666", gender="female"
        ),
    )
    assert response.status_code == 302
    hanako.refresh_from_db()
    assert (hanako.email, hanako.phone, hanako.gender, hanako.name) == (
        "hanako.new@example.com",
        "+819055556666",
        "female",
        "Hanako Yamada",
    )


def test_moving_the_home_store_is_recorded_and_shown(staff, hanako):
    client, user = staff
    shibuya, osaka = StoreFactory(code="TYO02"), StoreFactory(code="OSA01")
    for store in (shibuya, osaka):
        page = client.get(change_url(hanako))
        response = client.post(change_url(hanako), change_form_data(page, home_store=store.pk))
        assert response.status_code == 302
    # Saving the page again without a change records nothing.
    page = client.get(change_url(hanako))
    assert client.post(change_url(hanako), change_form_data(page)).status_code == 302
    hanako.refresh_from_db()
    assert hanako.home_store == osaka
    assert list(
        HomeStoreChange.objects.order_by("changed_at", "id").values_list(
            "from_store__code", "to_store__code"
        )
    ) == [(None, "TYO02"), ("TYO02", "OSA01")]
    html = client.get(change_url(hanako)).content.decode()
    assert "Home store history" in html


def test_clearing_an_email_stores_null(staff, hanako):
    client, _user = staff
    page = client.get(change_url(hanako))
    response = client.post(change_url(hanako), change_form_data(page, email=""))
    assert response.status_code == 302
    hanako.refresh_from_db()
    assert (hanako.email, hanako.phone) == (None, "+819012345678")


def test_changing_to_another_members_email_is_refused(staff, hanako, taro):
    client, _user = staff
    page = client.get(change_url(hanako))
    response = client.post(change_url(hanako), change_form_data(page, email="TARO@example.jp"))
    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {
        "email": ["Member with this Email already exists."]
    }
    hanako.refresh_from_db()
    assert hanako.email == "hanako@example.com"


def test_marketer_may_not_change_a_member(marketer, staff, hanako):
    staff_client, _user = staff
    data = change_form_data(staff_client.get(change_url(hanako)), name="Changed")
    client, _user = marketer
    assert client.post(change_url(hanako), data).status_code == 403
    hanako.refresh_from_db()
    assert hanako.name == "Hanako Yamada"


def test_nobody_deletes_a_member(superuser, hanako):
    client, _user = superuser
    assert client.get(reverse("admin:members_member_delete", args=[hanako.pk])).status_code == 403
    assert client.post(reverse("admin:members_member_delete", args=[hanako.pk])).status_code == 403
    assert Member.objects.filter(pk=hanako.pk).exists()


# --- withdrawal -----------------------------------------------------------------------------


def test_withdraw_view_confirms_then_withdraws(superuser, hanako):
    client, user = superuser
    page = client.get(withdraw_url(hanako))
    assert page.status_code == 200
    assert "This cannot be undone." in page.text
    hanako.refresh_from_db()
    assert hanako.status == "active"

    response = client.post(withdraw_url(hanako))
    assert response.status_code == 302
    assert list(
        LogEntry.objects.filter(object_id=str(hanako.pk)).values_list("user", "change_message")
    ) == [(user.pk, "Withdrawn.")]
    hanako.refresh_from_db()
    assert (hanako.status, hanako.name, hanako.email, hanako.phone) == ("withdrawn", "", None, None)
    # A withdrawn member's page is read-only, even for a superuser.
    assert client.get(change_url(hanako)).context["has_change_permission"] is False
    assert client.post(change_url(hanako), {"name": "Back"}).status_code == 403


def test_store_staff_may_not_withdraw(staff, hanako):
    client, _user = staff
    assert client.get(withdraw_url(hanako)).status_code == 403
    assert client.post(withdraw_url(hanako)).status_code == 403
    hanako.refresh_from_db()
    assert hanako.status == "active"


def test_withdraw_action_withdraws_the_selected_members(superuser, hanako, taro):
    client, _user = superuser
    selection = {"action": "withdraw_selected", "_selected_action": [hanako.pk]}
    confirm = client.post(changelist_url(), {**selection, "index": "0"})
    assert confirm.status_code == 200
    assert Member.objects.filter(status="withdrawn").count() == 0
    response = client.post(changelist_url(), {**selection, "post": "yes"})
    assert response.status_code == 302
    assert list(Member.objects.filter(status="withdrawn").values_list("pk", flat=True)) == [
        hanako.pk
    ]
    assert messages_of(response) == ["1 member withdrawn."]
