"""The dry-run page of the challenge admin: an event in, what every active rule and the
challenge on the page would do out, and why not; written nothing."""

import datetime as dt
import html
import json

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from challenges.models import Award, Event
from challenges.services import challenge_create
from loyalty.models import Coupon, LedgerEntry, Purchase
from tests.admin_support import form_errors
from tests.challenges.support import START, event, integration, preset, process
from tests.loyalty.factories import CouponTemplateFactory
from tests.members.factories import MemberFactory, UserFactory

pytestmark = pytest.mark.django_db


def url(challenge) -> str:
    return f"/admin/challenges/challenge/{challenge.pk}/dry-run/"


def form(member=None, type_="visit", *, day="2026-06-05", time="10:00:00", **fields) -> dict:
    """The page's form as a browser posts it (empty inputs sent as "")."""
    data = {
        "type": type_,
        "member_number": member.member_number if member else "",
        "occurred_at_0": day,
        "occurred_at_1": time,
        "store_code": "",
        "total": "",
        "lines": "",
        "staff_code": "",
        "channel": "store",
        "payload": "{}",
        "weather_condition": "",
        "weather_precipitation_mm": "",
    }
    data.update(fields)
    return data


def rows(response) -> list[tuple]:
    """(challenge, version, fires, stage, reason, failed path, points, coupons) per rule."""
    return [
        (
            o["challenge"],
            o["version"],
            o["fires"],
            o["stage"],
            o["reason"],
            o["failed_path"],
            o["points"],
            o["coupons"],
        )
        for o in response.context["result"]["outcomes"]
    ]


def written() -> dict[str, int]:
    return {
        "events": Event.objects.count(),
        "ledger": LedgerEntry.objects.count(),
        "awards": Award.objects.count(),
        "coupons": Coupon.objects.count(),
        "purchases": Purchase.objects.count(),
    }


def test_the_change_page_links_to_the_dry_run_page_for_marketers_only(marketer, staff):
    challenge = preset("rainy_day_visit")
    link = f'href="{url(challenge)}"'

    as_marketer = marketer[0].get(f"/admin/challenges/challenge/{challenge.pk}/change/")
    as_staff = staff[0].get(f"/admin/challenges/challenge/{challenge.pk}/change/")

    assert as_marketer.status_code == 200
    assert link in as_marketer.content.decode()
    assert '<ul class="object-tools">' in as_marketer.content.decode()
    assert as_staff.status_code == 200  # store staff may look at challenges...
    assert link not in as_staff.content.decode()  # ...but not try them


def test_the_page_renders_the_form_starting_from_the_challenge_trigger(marketer):
    challenge = preset("survey_answered", survey="S1")

    response = marketer[0].get(url(challenge))

    assert response.status_code == 200
    assert response.templates[0].name == "admin/challenges/challenge/dry_run.html"
    page = response.content.decode()
    assert "<h1>Dry run</h1>" in page
    assert '<option value="survey_answered" selected>' in page
    assert 'name="member_number"' in page and 'name="occurred_at_0"' in page
    assert response.context["result"] is None


def test_a_firing_preset_shows_fires_with_its_points_and_nothing_is_written(marketer):
    challenge = preset("first_purchase_of_product", sku="TEA-01", points=120)
    template = CouponTemplateFactory(code="welcome")
    challenge_create(
        code="coupon-on-purchase",
        definition={
            "name": "Coupon on any purchase",
            "triggers": ["purchase"],
            "effects": [{"type": "coupon", "template": template.code}],
            "starts_at": START,
            "priority": -1,
        },
        status="active",
    )
    member = MemberFactory()
    before = written()
    lines = [{"sku": "TEA-01", "category": "tea", "quantity": 2, "unit_price": 800}]

    response = marketer[0].post(
        url(challenge), form(member, "purchase", total="1600", lines=json.dumps(lines))
    )

    assert response.status_code == 200
    assert form_errors(response) == {}
    assert rows(response) == [
        ("first-purchase-of-product", 1, True, "fired", "fired", "", 120, []),
        ("coupon-on-purchase", 1, True, "fired", "fired", "", 0, ["welcome"]),
    ]
    assert response.context["result"]["base_points"] == 16
    page = response.content.decode()
    first_row = page[page.index('data-challenge="first-purchase-of-product"') :]
    first_row = first_row[: first_row.index("</tr>")]
    assert "fires" in first_row and "does not fire" not in first_row
    assert '<td class="number points">120</td>' in first_row
    assert "this-challenge" in page[: page.index('data-challenge="first-purchase-of-product"')]
    # A purchase really went through the worker's code (base points, event) and was rolled back.
    assert (
        written()
        == before
        == {
            "events": 0,
            "ledger": 0,
            "awards": 0,
            "coupons": 0,
            "purchases": 0,
        }
    )


def test_a_failing_condition_shows_the_failed_leaf_and_why(marketer):
    challenge = preset("sns_follow", account="@tea")
    member = MemberFactory()
    payload = {"platform": "instagram", "account": "@coffee"}

    response = marketer[0].post(
        url(challenge), form(member, "sns_follow", payload=json.dumps(payload))
    )

    reason = "condition: all[1]: event.payload.account is '@coffee', needs eq '@tea'"
    assert rows(response) == [("sns-follow", 1, False, "condition", reason, "all[1]", 0, [])]
    page = response.content.decode()
    assert f'<td class="reason">{html.escape(reason)}</td>' in page
    assert '<td class="failed-path">all[1]</td>' in page
    assert "does not fire" in page


def test_a_reached_limit_and_a_spent_budget_are_the_reasons_shown(marketer):
    rain = preset("rainy_day_visit", points=50)
    challenge_create(
        code="tiny-budget",
        definition={
            "name": "Tiny budget",
            "triggers": ["visit"],
            "effects": [{"type": "points", "points": 30}],
            "budget": {"points": 20},
            "starts_at": START,
        },
        status="active",
    )
    member = MemberFactory()
    visit = event("V-1", member, "visit", weather={"condition": "rain", "precipitation_mm": 4})
    assert integration().post("/api/v1/events", visit, format="json").status_code == 201
    process()
    before = written()

    same_day = marketer[0].post(url(rain), form(member, weather_condition="rain"))
    next_day = marketer[0].post(url(rain), form(member, day="2026-06-06", weather_condition="rain"))

    assert rows(same_day) == [
        ("rainy-day-visit", 1, False, "limit", "limit: already 1 time(s) (day)", "", 0, []),
        (
            "tiny-budget",
            1,
            False,
            "budget",
            "budget: points budget 20 has 0 used, needs 30",
            "",
            0,
            [],
        ),
    ]
    assert rows(next_day)[0] == ("rainy-day-visit", 1, True, "fired", "fired", "", 50, [])
    assert "limit: already 1 time(s) (day)" in same_day.content.decode()
    assert written() == before
    assert before["awards"] == 1


def test_member_data_in_reasons_only_for_users_who_may_view_members(marketer):
    challenge = challenge_create(
        code="seniors",
        definition={
            "name": "Seniors",
            "triggers": ["app_open"],
            "conditions": {"field": "member.age", "op": "gte", "value": 99},
            "effects": [{"type": "points", "points": 5}],
            "starts_at": START,
        },
        status="active",
    )
    member = MemberFactory(birth_date=dt.date(1990, 1, 1))
    # May write challenges but not look at members.
    writer = UserFactory(username="rule-writer", is_staff=True)
    writer.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label="challenges",
            codename__in=["view_challenge", "change_challenge"],
        )
    )
    blind = Client()
    blind.force_login(writer)

    sighted_page = marketer[0].post(url(challenge), form(member, "app_open"))
    blind_page = blind.post(url(challenge), form(member, "app_open"))

    assert rows(sighted_page)[0][4] == "condition: member.age is 36, needs gte 99"
    assert rows(blind_page)[0][4] == (
        "condition: member.age does not match (members:read shows the value)"
    )
    assert "member.age is 36" not in blind_page.content.decode()
    hidden_note = "You may not view members"
    assert hidden_note in blind_page.content.decode()
    assert hidden_note not in sighted_page.content.decode()
    member_link = f'href="/admin/members/member/{member.pk}/change/"'
    assert member_link in sighted_page.content.decode()
    assert member_link not in blind_page.content.decode()


@pytest.mark.parametrize(
    ("fields", "errors"),
    [
        ({"payload": "{not json"}, {"payload": ["Enter a valid JSON."]}),
        (
            {"type": "survey_answered", "payload": '{"score": 3}'},
            {"payload": ["'survey' is a required property"]},
        ),
        ({"member_number": "0000000000000000"}, {"member_number": ["No member has this number."]}),
        (
            {"type": "no_such_type"},
            {"type": ["Select a valid choice. That choice is not one of the available choices."]},
        ),
        ({"type": "purchase"}, {"total": ["Required for a purchase."]}),
        (
            {
                "type": "purchase",
                "total": "100",
                "lines": '[{"sku": "T", "quantity": 0, "unit_price": 1}]',
            },
            {"lines": ["lines[0].quantity: Ensure this value is greater than or equal to 1."]},
        ),
        ({"store_code": "NOWHERE"}, {"store_code": ["No store has this code."]}),
        (
            {"weather_precipitation_mm": "3"},
            {"weather_condition": ["This field is required."]},
        ),
        ({"day": "2099-01-01"}, {"occurred_at": ["Must not be in the future."]}),
    ],
    ids=[
        "bad-json-payload",
        "payload-against-schema",
        "unknown-member",
        "unknown-event-type",
        "purchase-without-total",
        "bad-line",
        "unknown-store",
        "precipitation-without-condition",
        "future",
    ],
)
def test_bad_input_is_shown_on_the_field_it_names_and_nothing_is_written(marketer, fields, errors):
    challenge = preset("rainy_day_visit")
    member = MemberFactory()
    before = written()
    day = fields.pop("day", "2026-06-05")

    response = marketer[0].post(url(challenge), form(member, day=day, **fields))

    assert response.status_code == 200
    assert form_errors(response) == errors
    assert response.context["result"] is None
    assert '<p class="errornote">' in response.content.decode()
    assert written() == before


def test_store_staff_get_403_and_superusers_may_use_it(staff, superuser):
    challenge = preset("rainy_day_visit")
    member = MemberFactory()
    body = form(member, weather_condition="rain")

    assert staff[0].get(url(challenge)).status_code == 403
    assert staff[0].post(url(challenge), body).status_code == 403
    allowed = superuser[0].post(url(challenge), body)
    assert allowed.status_code == 200
    assert rows(allowed) == [("rainy-day-visit", 1, True, "fired", "fired", "", 50, [])]


def test_anonymous_users_are_sent_to_the_login_page():
    challenge = preset("rainy_day_visit")
    response = Client().get(url(challenge))
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_a_draft_challenge_is_tried_too(marketer):
    draft = preset("rainy_day_visit", code="draft-rain", status="draft")
    member = MemberFactory()

    response = marketer[0].post(url(draft), form(member, weather_condition="rain"))

    assert rows(response) == [("draft-rain", 1, True, "fired", "fired", "", 50, [])]
