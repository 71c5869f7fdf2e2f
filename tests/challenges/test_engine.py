"""The engine's rules: stacking, limits, budgets, versions, returns, dry-run, member progress."""

import datetime as dt

import pytest
from django.db import IntegrityError, transaction
from rest_framework.exceptions import ValidationError

from challenges.models import Award, Challenge, ChallengeCounter, Event
from challenges.processing import Batch, _claim, active_rules
from challenges.services import (
    StatusChangeRefused,
    challenge_create,
    challenge_revise,
    challenge_set_status,
)
from loyalty.ledger import ledger_sums
from loyalty.models import Coupon, LedgerEntry
from loyalty.models.ledger import EntryKind
from members.services import member_withdraw
from tests.challenges.support import (
    START,
    challenge_points,
    event,
    integration,
    member_app,
    process,
)
from tests.loyalty.factories import CouponTemplateFactory
from tests.members.factories import MemberFactory

pytestmark = pytest.mark.django_db


def visit_rule(name, *, points=10, **extra):
    return {
        "name": name,
        "triggers": ["app_open"],
        "effects": [{"type": "points", "points": points}],
        "starts_at": START,
        **extra,
    }


def open_app(client, member, client_id, when="2026-06-05T10:00:00+09:00"):
    response = client.post(
        "/api/v1/events", event(client_id, member, "app_open", when=when), format="json"
    )
    assert response.status_code == 201, response.json()


def test_priority_and_exclusive_stop_lower_rules():
    challenge_create(
        code="low", definition=visit_rule("Low", points=1, priority=1), status="active"
    )
    challenge_create(
        code="top",
        definition=visit_rule("Top", points=5, priority=9, exclusive=True),
        status="active",
    )
    challenge_create(
        code="mid", definition=visit_rule("Mid", points=3, priority=5), status="active"
    )
    member = MemberFactory()
    open_app(integration(), member, "E-1")
    process()

    assert challenge_points(member) == [("Top", 5)]


def test_per_member_limit_per_week():
    challenge_create(
        code="weekly",
        definition=visit_rule("Weekly", limit={"count": 2, "period": "week"}),
        status="active",
    )
    member = MemberFactory()
    pos = integration()
    # 2026-06-01 is a Monday: three opens in that ISO week, one in the next.
    for n, day in enumerate(["2026-06-01", "2026-06-03", "2026-06-07", "2026-06-08"]):
        open_app(pos, member, f"E-{n}", when=f"{day}T10:00:00+09:00")
    process()

    assert [
        e.award.event.client_id for e in member.ledger.filter(source="challenge").order_by("id")
    ] == [
        "E-0",
        "E-1",
        "E-3",
    ]


def test_points_budget_is_never_overspent():
    challenge_create(
        code="budget",
        definition=visit_rule("Budget", points=40, budget={"points": 100}),
        status="active",
    )
    members = [MemberFactory() for _ in range(4)]
    pos = integration()
    for n, member in enumerate(members):
        open_app(pos, member, f"E-{n}")
    process()

    counter = ChallengeCounter.objects.get(challenge__code="budget")
    assert (counter.points_granted, counter.awards) == (80, 2)
    assert sum(m.ledger.filter(source="challenge").count() for m in members) == 2


def test_coupon_effect_and_coupon_budget():
    template = CouponTemplateFactory(code="FREE-TEA", per_member_limit=None)
    challenge_create(
        code="coupon",
        definition={
            **visit_rule("Coupon"),
            "effects": [{"type": "coupon", "template": "FREE-TEA"}],
            "budget": {"coupons": 1},
        },
        status="active",
    )
    first, second = MemberFactory(), MemberFactory()
    pos = integration()
    open_app(pos, first, "E-1")
    open_app(pos, second, "E-2", when="2026-06-05T11:00:00+09:00")
    process()

    coupon = Coupon.objects.get()
    assert (coupon.member, coupon.template, coupon.issued_via) == (first, template, "challenge")
    assert coupon.challenge_version.challenge.code == "coupon"
    assert Award.objects.get().coupon == coupon


def test_editing_creates_a_version_and_entries_keep_theirs():
    challenge = challenge_create(code="v", definition=visit_rule("Ten", points=10), status="active")
    member = MemberFactory()
    pos = integration()
    open_app(pos, member, "E-1")
    process()
    challenge_revise(challenge=challenge, definition=visit_rule("Twenty", points=20))
    open_app(pos, member, "E-2", when="2026-06-06T10:00:00+09:00")
    process()

    entries = member.ledger.filter(source="challenge").order_by("id")
    assert [(e.points, e.challenge_version.number) for e in entries] == [(10, 1), (20, 2)]
    version = challenge.versions.get(number=1)
    version.name = "changed"
    with pytest.raises(RuntimeError):
        version.save()


def test_definition_errors_name_the_field():
    bad = {
        **visit_rule("Bad"),
        "conditions": {"all": [{"field": "event.amout", "op": "gte", "value": 1}]},
        "effects": [{"type": "points"}],
    }
    with pytest.raises(ValidationError) as caught:
        challenge_create(code="bad", definition=bad)

    detail = caught.value.detail
    assert set(detail) == {"conditions", "effects"}
    assert str(detail["conditions"][0]).startswith("all[0]: unknown field 'event.amout'")
    assert str(detail["effects"][0]["points"][0]) == "Required for a points effect."
    with pytest.raises(ValidationError) as caught:
        challenge_create(code="bad", definition=visit_rule("Dates", ends_at="2025-01-01T00:00:00Z"))
    assert caught.value.detail == {"ends_at": ["Must be after starts_at."]}
    # A time as text says its offset, as everywhere in the API (read in the server's zone, a
    # marketer elsewhere would start the campaign hours off).
    with pytest.raises(ValidationError) as caught:
        challenge_create(code="bad", definition=visit_rule("Naive", starts_at="2026-06-01T00:00"))
    assert caught.value.detail == {
        "starts_at": ["Give the time's offset from UTC (+09:00, or Z for UTC)."]
    }
    with pytest.raises(ValidationError) as caught:
        challenge_create(
            code="bad",
            definition={**visit_rule("Gift"), "effects": [{"type": "coupon", "template": "nope"}]},
        )
    assert caught.value.detail == {
        "effects": {0: {"template": ["No coupon template has this code."]}}
    }
    assert Challenge.objects.count() == 0


def purchase_challenge(code: str, name: str, effect: dict) -> None:
    challenge_create(
        code=code,
        definition={
            "name": name,
            "triggers": ["purchase"],
            "effects": [effect],
            "starts_at": START,
        },
        status="active",
    )


def bought(pos, member, total: int) -> None:
    """Member buys `total` yen of tea (1,000 yen a cup) on 5 June through the POS."""
    body = {
        "order_id": "O-1",
        "member_number": member.member_number,
        "occurred_at": "2026-06-05T10:00:00+09:00",
        "total": total,
        "lines": [{"sku": "TEA", "quantity": total // 1000, "unit_price": 1000}],
    }
    assert pos.post("/api/v1/purchases", body, format="json").status_code == 201


def test_return_reverses_amount_based_points_in_proportion_and_fixed_ones_on_full_return():
    purchase_challenge(
        "per-amount", "Per amount", {"type": "points_per_amount", "points": 1, "per": 100}
    )
    purchase_challenge("fixed", "Fixed", {"type": "points", "points": 50})
    member = MemberFactory()
    pos = integration()
    bought(pos, member, 10000)
    process()
    assert sorted(challenge_points(member)) == [("Fixed", 50), ("Per amount", 100)]

    pos.post(
        "/api/v1/returns", {"order_id": "O-1", "return_id": "R-1", "amount": 2500}, format="json"
    )
    process()
    member.refresh_from_db()
    # Base 100 -> 75 kept; per amount 100 -> 75 kept; fixed 50 stands: 75 + 75 + 50.
    assert member.points_available == 200

    pos.post(
        "/api/v1/returns", {"order_id": "O-1", "return_id": "R-2", "amount": 7500}, format="json"
    )
    process()
    member.refresh_from_db()
    assert member.points_available == 0
    assert ledger_sums([member.pk])[member.pk]["points_available"] == 0
    assert {a.points_reversed for a in Award.objects.all()} == {50, 100}


def test_a_rewards_reversal_is_dated_at_the_return_not_at_processing():
    purchase_challenge("fixed", "Fixed", {"type": "points", "points": 50})
    member = MemberFactory()
    pos = integration()
    bought(pos, member, 1000)
    process()
    back = {"order_id": "O-1", "return_id": "R-1", "amount": 1000}
    back["occurred_at"] = "2026-06-06T12:00:00+09:00"  # a till syncing days later
    assert pos.post("/api/v1/returns", back, format="json").status_code == 201
    process()

    returned_at = dt.datetime(2026, 6, 6, 3, 0, tzinfo=dt.UTC)
    reversals = LedgerEntry.objects.filter(member=member, kind=EntryKind.REVERSE)
    assert sorted((e.source, e.points, e.occurred_at) for e in reversals) == [
        ("challenge", -50, returned_at),
        ("return", -10, returned_at),
    ]


def test_an_award_cannot_be_written_twice():
    challenge_create(code="once", definition=visit_rule("Once"), status="active")
    member = MemberFactory()
    open_app(integration(), member, "E-1")
    process()
    event_row = Event.objects.get()
    award = Award.objects.get()

    with pytest.raises(IntegrityError), transaction.atomic():
        Award.objects.create(
            event=event_row,
            version=award.version,
            effect_index=0,
            member=member,
            kind="points",
            points=10,
            occurred_at=event_row.occurred_at,
        )


def test_processed_events_are_never_claimed_again():
    challenge_create(code="once", definition=visit_rule("Once"), status="active")
    member = MemberFactory()
    open_app(integration(), member, "E-1")

    assert process() == 1
    assert process() == 0
    assert _claim(10) == []
    assert challenge_points(member) == [("Once", 10)]


def test_paused_and_draft_challenges_do_not_fire():
    paused = challenge_create(code="paused", definition=visit_rule("Paused"), status="active")
    with pytest.raises(StatusChangeRefused) as refused:
        challenge_set_status(challenge=paused, status="draft")
    assert str(refused.value.message) == "A challenge that is active can't become draft."
    challenge_set_status(challenge=paused, status="paused")
    challenge_create(code="draft", definition=visit_rule("Draft"))
    member = MemberFactory()
    open_app(integration(), member, "E-1")
    process()
    assert challenge_points(member) == []


def test_dry_run_explains_every_rule_and_writes_nothing():
    challenge_create(
        code="rain",
        definition={
            **visit_rule("Rain"),
            "triggers": ["visit"],
            "conditions": {"field": "weather.condition", "op": "eq", "value": "rain"},
        },
        status="active",
    )
    challenge_create(code="app", definition=visit_rule("App"), status="active")
    draft = challenge_create(
        code="draft", definition={**visit_rule("Draft visit"), "triggers": ["visit"]}
    )
    member = MemberFactory()
    client = integration("challenges:read")

    response = client.post(
        f"/api/v1/challenges/{draft.code}/dry-run",
        {
            "type": "visit",
            "member_number": member.member_number,
            "weather": {"condition": "clear"},
        },
        format="json",
    )

    assert response.status_code == 200
    outcomes = {o["challenge"]: o for o in response.json()["outcomes"]}
    assert (
        outcomes["rain"]["fires"],
        outcomes["rain"]["stage"],
        outcomes["rain"]["failed_path"],
    ) == (
        False,
        "condition",
        "",
    )
    assert "weather.condition is 'clear'" in outcomes["rain"]["reason"]
    assert (outcomes["app"]["fires"], outcomes["app"]["stage"]) == (False, "trigger")
    assert (outcomes["draft"]["fires"], outcomes["draft"]["points"]) == (True, 10)
    assert Event.objects.count() == 0
    assert member.ledger.count() == 0
    # A withdrawn member's event is refused as intake refuses it: no rule would see it.
    member_withdraw(member=member)
    refused = client.post(
        f"/api/v1/challenges/{draft.code}/dry-run",
        {"type": "visit", "member_number": member.member_number},
        format="json",
    )
    assert (refused.status_code, refused.json()["error"]["fields"]) == (
        400,
        {"member_number": ["The member is not active."]},
    )


def test_dry_run_of_a_purchase_shows_base_points_and_rolls_back():
    challenge_create(
        code="double",
        definition={
            "name": "Double",
            "triggers": ["purchase"],
            "effects": [{"type": "multiplier", "factor": "2"}],
            "starts_at": START,
        },
        status="active",
    )
    member = MemberFactory()
    response = integration("challenges:read").post(
        "/api/v1/challenges/double/dry-run",
        {"type": "purchase", "member_number": member.member_number, "total": 5000},
        format="json",
    )
    assert response.status_code == 200
    assert response.json()["base_points"] == 50
    assert response.json()["outcomes"][0]["points"] == 50
    assert member.ledger.count() == 0
    assert member.purchases.count() == 0


def test_member_sees_challenges_with_progress():
    challenge_create(
        code="three",
        definition={
            **visit_rule("Three opens", points=30),
            "goal": {"kind": "count", "target": 3, "window": "campaign"},
            "description": "Open the app 3 times.",
            "ends_at": dt.datetime(2099, 1, 1, tzinfo=dt.UTC),
        },
        status="active",
    )
    member = MemberFactory()
    pos = integration()
    open_app(pos, member, "E-1")
    open_app(pos, member, "E-2", when="2026-06-06T10:00:00+09:00")
    process()
    app = member_app(member)

    response = app.get("/api/v1/me/challenges")

    assert response.status_code == 200
    [item] = response.json()
    assert (item["code"], item["name"], item["description"], item["reward_points"]) == (
        "three",
        "Three opens",
        "Open the app 3 times.",
        30,
    )
    assert item["progress"] == {
        "kind": "count",
        "target": 3,
        "window": "campaign",
        "value": 2,
        "completed": False,
    }


def test_batch_loads_with_a_fixed_number_of_queries(django_assert_max_num_queries):
    for n in range(3):
        challenge_create(code=f"c{n}", definition=visit_rule(f"C{n}"), status="active")
    members = [MemberFactory() for _ in range(20)]
    pos = integration()
    for n, member in enumerate(members):
        open_app(pos, member, f"E-{n}")
    events = _claim(100)
    active_rules()  # compiled once per version, then cached
    # Members, limits, progress, purchases (3), event counters (2): whatever the batch size.
    with django_assert_max_num_queries(8):
        batch = Batch(events, now=dt.datetime(2026, 6, 6, tzinfo=dt.UTC))
        batch.load()
        for e in events:
            batch.evaluate(e)


def test_dry_run_quotes_member_data_only_to_keys_that_may_read_members():
    challenge_create(
        code="old",
        definition={
            **visit_rule("Seniors"),
            "conditions": {"field": "member.age", "op": "gte", "value": 99},
        },
        status="active",
    )
    member = MemberFactory(birth_date=dt.date(1990, 1, 1))
    body = {
        "type": "app_open",
        "member_number": member.member_number,
        "occurred_at": "2026-06-05T10:00:00+09:00",
    }

    blind = integration("challenges:read").post(
        "/api/v1/challenges/old/dry-run", body, format="json"
    )
    sighted = integration("challenges:read", "members:read").post(
        "/api/v1/challenges/old/dry-run", body, format="json"
    )

    assert blind.json()["outcomes"][0]["reason"] == (
        "condition: member.age does not match (members:read shows the value)"
    )
    assert sighted.json()["outcomes"][0]["reason"] == ("condition: member.age is 36, needs gte 99")


def test_member_ledger_says_which_challenge_version_produced_an_entry():
    challenge_create(code="open", definition=visit_rule("Open", points=4), status="active")
    member = MemberFactory()
    open_app(integration(), member, "E-1")
    process()
    app = member_app(member)

    [entry] = app.get("/api/v1/me/ledger").json()["results"]

    assert (entry["points"], entry["source"]) == (4, "challenge")
    assert entry["challenge"] == {"code": "open", "version": 1, "name": "Open"}


def test_counters_count_earlier_processed_events_of_the_same_local_month():
    challenge_create(
        code="second",
        definition={
            **visit_rule("Second open this month", points=9),
            "conditions": {"field": "counter.events_this_month", "op": "eq", "value": 1},
        },
        status="active",
    )
    member = MemberFactory()
    pos = integration()
    # Processed in an earlier batch, so the counts come from the database. 1 July 00:30 in
    # Tokyo is still 30 June in UTC: it must count for July, the local month.
    open_app(pos, member, "E-1", when="2026-06-10T10:00:00+09:00")
    open_app(pos, member, "E-2", when="2026-07-01T00:30:00+09:00")
    process()
    open_app(pos, member, "E-3", when="2026-07-05T10:00:00+09:00")
    open_app(pos, member, "E-4", when="2026-06-20T10:00:00+09:00")
    process()

    fired = member.ledger.filter(source="challenge")
    # E-1 and E-2 were each the first of their month; E-3 and E-4 the second.
    assert sorted(e.award.event.client_id for e in fired) == ["E-3", "E-4"]
