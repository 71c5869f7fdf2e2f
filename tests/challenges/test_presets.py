"""Every shipped preset end to end: events through the API, processed by the worker code,
points in the ledger with the challenge version that produced them."""

import datetime as dt

import pytest

from challenges.models import Event, Verification
from challenges.models.events import WeatherObservation
from challenges.processing import events_process_pending
from challenges.scheduled import scheduled_events_create
from challenges.verification import verification_decide
from loyalty.models import Coupon, LedgerEntry
from tests.challenges.support import JST, challenge_points, event, integration, preset, process
from tests.loyalty.factories import CouponTemplateFactory
from tests.members.factories import MemberFactory, StaffFactory, StoreFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def approver():
    return UserFactory(username="counter-staff", is_staff=True)


def buy(client, member, order_id, *, when="2026-06-05T10:00:00+09:00", lines=None, **extra):
    lines = lines if lines is not None else [{"sku": "TEA", "quantity": 1, "unit_price": 1000}]
    total = sum(line["quantity"] * line["unit_price"] for line in lines)
    body = {
        "order_id": order_id,
        "member_number": member.member_number,
        "occurred_at": when,
        "total": total,
        "lines": lines,
        **extra,
    }
    response = client.post("/api/v1/purchases", body, format="json")
    assert response.status_code == 201, response.json()
    return response


def send(client, body):
    response = client.post("/api/v1/events", body, format="json")
    assert response.status_code == 201, response.json()
    return response


def test_first_purchase_of_a_product_rewards_only_the_first_time():
    preset("first_purchase_of_product", sku="MATCHA-LATTE", points=100)
    member, other = MemberFactory(), MemberFactory()
    pos = integration()
    matcha = [{"sku": "MATCHA-LATTE", "category": "drinks", "quantity": 1, "unit_price": 600}]

    buy(pos, member, "O-1", lines=[{"sku": "TEA", "quantity": 1, "unit_price": 500}])
    buy(pos, member, "O-2", lines=matcha, when="2026-06-06T10:00:00+09:00")
    buy(pos, member, "O-3", lines=matcha, when="2026-06-07T10:00:00+09:00")
    buy(pos, other, "O-4", lines=matcha)
    assert process() == 4

    assert challenge_points(member) == [("First purchase of MATCHA-LATTE", 100)]
    assert challenge_points(other) == [("First purchase of MATCHA-LATTE", 100)]
    award = LedgerEntry.objects.get(member=member, source="challenge")
    assert award.award.event.client_id == "O-2"
    assert Event.objects.filter(status="processed").count() == 4


def test_a_purchase_whose_event_is_still_pending_is_not_history_yet():
    preset("first_purchase_of_product", sku="MATCHA-LATTE", points=100)
    member = MemberFactory()
    pos = integration()
    matcha = [{"sku": "MATCHA-LATTE", "quantity": 1, "unit_price": 600}]
    buy(pos, member, "O-1", lines=matcha, when="2026-06-06T10:00:00+09:00")
    buy(pos, member, "O-2", lines=matcha, when="2026-06-07T10:00:00+09:00")

    # One event a batch: while O-1 is evaluated, O-2's purchase row exists but its event
    # waits for the next batch, so O-1 is still the first MATCHA-LATTE; O-2 then is not.
    assert events_process_pending(batch_size=1) == 2

    award = LedgerEntry.objects.get(member=member, source="challenge")
    assert (award.points, award.award.event.client_id) == (100, "O-1")


def test_first_purchase_of_a_product_bought_before_the_challenge_does_not_count():
    member = MemberFactory()
    pos = integration()
    matcha = [{"sku": "MATCHA-LATTE", "quantity": 1, "unit_price": 600}]
    buy(pos, member, "O-1", lines=matcha, when="2026-05-01T10:00:00+09:00")
    process()
    preset("first_purchase_of_product", sku="MATCHA-LATTE", points=100)

    buy(pos, member, "O-2", lines=matcha)
    process()

    assert challenge_points(member) == []


def test_staff_ambassador_once_a_day():
    store = StoreFactory(code="TKY01")
    StaffFactory(code="AMB-1", store=store)
    StaffFactory(code="ST-2", store=store)
    preset("staff_ambassador", staff_code="AMB-1", points=50)
    member = MemberFactory()
    pos = integration()

    buy(pos, member, "O-1", store_code="TKY01", staff_code="AMB-1")
    buy(
        pos, member, "O-2", store_code="TKY01", staff_code="AMB-1", when="2026-06-05T15:00:00+09:00"
    )
    buy(pos, member, "O-3", store_code="TKY01", staff_code="ST-2", when="2026-06-06T10:00:00+09:00")
    buy(
        pos, member, "O-4", store_code="TKY01", staff_code="AMB-1", when="2026-06-06T11:00:00+09:00"
    )
    process()

    assert challenge_points(member) == [("Served by AMB-1", 50), ("Served by AMB-1", 50)]
    assert sorted(
        LedgerEntry.objects.filter(member=member, source="challenge").values_list(
            "award__event__client_id", flat=True
        )
    ) == ["O-1", "O-4"]


def test_sns_follow_waits_for_staff_verification(approver):
    preset("sns_follow", platform="instagram", account="@matcha_tokyo", points=100)
    member = MemberFactory()
    pos = integration()
    payload = {"platform": "instagram", "account": "@matcha_tokyo"}

    send(pos, event("F-1", member, "sns_follow", payload=payload))
    process()
    assert challenge_points(member) == []
    pending = Verification.objects.get()
    assert pending.status == "pending"

    verification_decide(verification=pending, approve=True, note="seen on the phone", user=approver)

    assert challenge_points(member) == [("Follow us on instagram", 100)]
    member.refresh_from_db()
    assert member.points_available == 100


def test_sns_follow_rejected_by_staff_grants_nothing(approver):
    preset("sns_follow", platform="instagram", account="@matcha_tokyo", points=100)
    member = MemberFactory()
    send(
        integration(),
        event(
            "F-1",
            member,
            "sns_follow",
            payload={"platform": "instagram", "account": "@matcha_tokyo"},
        ),
    )
    process()

    verification_decide(
        verification=Verification.objects.get(), approve=False, note="not following", user=approver
    )

    assert challenge_points(member) == []
    assert Verification.objects.get().status == "rejected"


def test_survey_answered_once():
    preset("survey_answered", survey="nps-2026-06", points=30)
    member = MemberFactory()
    pos = integration()

    send(
        pos, event("S-1", member, "survey_answered", payload={"survey": "nps-2026-06", "score": 9})
    )
    send(
        pos, event("S-2", member, "survey_answered", payload={"survey": "nps-2026-06", "score": 10})
    )
    send(pos, event("S-3", member, "survey_answered", payload={"survey": "other"}))
    process()

    assert challenge_points(member) == [("Answer the survey nps-2026-06", 30)]


def test_event_attendance_approved_at_the_door(approver):
    preset("event_attendance", event_code="TEA-CEREMONY-0614", points=200)
    member = MemberFactory()
    send(
        integration(),
        event("A-1", member, "event_attendance", payload={"event_code": "TEA-CEREMONY-0614"}),
    )
    process()
    verification_decide(
        verification=Verification.objects.get(), approve=True, note="ticket scanned", user=approver
    )

    assert challenge_points(member) == [("Join us at TEA-CEREMONY-0614", 200)]


def test_rainy_day_visit_uses_the_store_weather_of_that_day():
    store = StoreFactory(code="TKY01")
    WeatherObservation.objects.create(
        store=store, date=dt.date(2026, 6, 5), condition="rain", precipitation_mm=12
    )
    WeatherObservation.objects.create(store=store, date=dt.date(2026, 6, 6), condition="clear")
    preset("rainy_day_visit", points=50)
    member = MemberFactory()
    pos = integration()

    send(pos, event("V-1", member, "visit", store_code="TKY01"))
    send(pos, event("V-2", member, "visit", store_code="TKY01", when="2026-06-05T18:00:00+09:00"))
    send(pos, event("V-3", member, "visit", store_code="TKY01", when="2026-06-06T10:00:00+09:00"))
    process()

    assert challenge_points(member) == [("Rainy day visit", 50)]
    assert Event.objects.get(client_id="V-1").weather == {
        "condition": "rain",
        "precipitation_mm": 12.0,
    }
    assert Event.objects.get(client_id="V-3").weather == {
        "condition": "clear",
        "precipitation_mm": 0.0,
    }


def test_rainy_day_visit_with_weather_given_by_the_client():
    preset("rainy_day_visit", points=50)
    member = MemberFactory()
    StoreFactory(code="OSK01")
    send(
        integration(),
        event(
            "V-1",
            member,
            "visit",
            store_code="OSK01",
            weather={"condition": "rain", "precipitation_mm": 3},
        ),
    )
    process()
    assert challenge_points(member) == [("Rainy day visit", 50)]


def test_visit_three_times_this_month_completes_once_per_month():
    preset("visit_three_times_a_month", visits=3, points=150)
    StoreFactory(code="TKY01")
    member = MemberFactory()
    pos = integration()
    days = ["2026-06-01", "2026-06-10", "2026-06-20", "2026-06-25", "2026-07-01"]
    for n, day in enumerate(days):
        send(
            pos, event(f"V-{n}", member, "visit", store_code="TKY01", when=f"{day}T10:00:00+09:00")
        )
    process()

    assert challenge_points(member) == [("Visit 3 times this month", 150)]
    award = LedgerEntry.objects.get(member=member, source="challenge").award
    assert award.event.client_id == "V-2"
    progress = {p.window: (p.value, p.completed_at is not None) for p in member.goal_progress.all()}
    assert progress == {"2026-06": (3, True), "2026-07": (1, False)}


def test_birthday_month_double_points():
    preset("birthday_double_points", factor=2)
    born_june = MemberFactory(birth_date=dt.date(1990, 6, 15))
    born_may = MemberFactory(birth_date=dt.date(1990, 5, 15))
    no_birthday = MemberFactory()
    pos = integration()
    lines = [{"sku": "TEA", "quantity": 1, "unit_price": 3250}]
    buy(pos, born_june, "O-1", lines=lines)
    buy(pos, born_may, "O-2", lines=lines)
    buy(pos, no_birthday, "O-3", lines=lines)
    process()

    # Base: floor(3,250 / 100) = 32; double = 32 more.
    assert challenge_points(born_june) == [("Birthday month double points", 32)]
    assert challenge_points(born_may) == []
    assert challenge_points(no_birthday) == []
    born_june.refresh_from_db()
    assert born_june.points_available == 64


def test_verification_approver_is_recorded(approver):
    preset("sns_follow", account="@tea", points=10)
    member = MemberFactory()
    send(
        integration(),
        event("F-1", member, "sns_follow", payload={"platform": "instagram", "account": "@tea"}),
    )
    process()
    decided = verification_decide(
        verification=Verification.objects.get(), approve=True, note="ok", user=approver
    )
    assert (decided.status, decided.decided_by, decided.note) == ("approved", approver, "ok")


# Presets on the scheduled events: the nightly job (run twice, as a re-run would) creates the
# events, the worker code evaluates them.
NIGHT = dt.date(2026, 6, 5)
JOINED = dt.datetime(2025, 1, 10, 10, 0, tzinfo=JST)


def nightly_job(day=NIGHT) -> int:
    scheduled_events_create(day=day)
    scheduled_events_create(day=day)
    return process()


def test_birthday_gift_on_the_birthday():
    preset("birthday_gift", points=500)
    born = MemberFactory(birth_date=dt.date(1990, 6, 5), joined_at=JOINED)
    not_today = MemberFactory(birth_date=dt.date(1990, 6, 6), joined_at=JOINED)

    assert nightly_job() == 1
    assert nightly_job() == 0

    assert challenge_points(born) == [("Birthday gift", 500)]
    assert challenge_points(not_today) == []
    entry = LedgerEntry.objects.get(member=born, source="challenge")
    assert entry.award.event.client_id == f"birthday:2026:{born.member_number}"
    born.refresh_from_db()
    assert born.points_available == 500


def test_membership_anniversary_bonus():
    preset("membership_anniversary", points=300)
    two_years = MemberFactory(joined_at=dt.datetime(2024, 6, 5, 19, 0, tzinfo=JST))
    new = MemberFactory(joined_at=dt.datetime(2026, 1, 5, 19, 0, tzinfo=JST))

    assert nightly_job() == 1

    assert challenge_points(two_years) == [("Membership anniversary", 300)]
    assert challenge_points(new) == []
    award = LedgerEntry.objects.get(member=two_years, source="challenge").award
    assert award.event.payload == {"years": 2}


def test_win_back_after_60_days_with_points():
    preset("win_back", days=60, points=200)
    StoreFactory(code="TKY01")
    pos = integration()
    visited = MemberFactory(joined_at=JOINED)
    came_back = MemberFactory(joined_at=JOINED)
    thirty = MemberFactory(joined_at=JOINED)
    never = MemberFactory(joined_at=dt.datetime(2026, 4, 6, 15, 0, tzinfo=JST))
    send(pos, event("V-1", visited, "visit", store_code="TKY01", when="2026-04-06T18:00:00+09:00"))
    buy(pos, came_back, "O-1", when="2026-04-06T10:00:00+09:00")
    buy(pos, came_back, "O-2", when="2026-05-01T10:00:00+09:00")
    buy(pos, thirty, "O-3", when="2026-05-06T10:00:00+09:00")
    assert process() == 4

    assert nightly_job() == 3  # win_back 60 for two members, 30 for one

    assert challenge_points(visited) == [("We miss you (60 days)", 200)]
    assert challenge_points(never) == [("We miss you (60 days)", 200)]
    assert challenge_points(came_back) == []
    assert challenge_points(thirty) == []
    assert sorted(
        Event.objects.filter(type__code="win_back").values_list("payload__days_absent", flat=True)
    ) == [30, 60, 60]


def test_win_back_with_a_coupon():
    template = CouponTemplateFactory(code="WELCOME-BACK")
    preset("win_back", days=90, coupon_template="WELCOME-BACK")
    member = MemberFactory(joined_at=JOINED)
    buy(integration(), member, "O-1", when="2026-03-07T10:00:00+09:00")
    process()

    assert nightly_job() == 1

    coupon = Coupon.objects.get(member=member)
    assert (coupon.template, coupon.issued_via, coupon.status) == (template, "challenge", "issued")
    assert coupon.challenge_version.name == "We miss you (90 days)"
    assert challenge_points(member) == []
