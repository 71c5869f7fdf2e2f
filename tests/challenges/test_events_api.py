"""POST /api/v1/events (one or a batch), GET /api/v1/events/{client_id}, /me/events."""

import datetime as dt

import pytest
from django.utils import timezone

from challenges.models import Event
from tests.challenges.support import event, integration, member_app, preset, process
from tests.members.factories import MemberFactory, StoreFactory

pytestmark = pytest.mark.django_db


def test_single_event_accepted_then_replayed_then_conflict():
    member = MemberFactory()
    pos = integration("events:write")
    body = event("C-1", member, "app_open")

    first = pos.post("/api/v1/events", body, format="json")
    again = pos.post("/api/v1/events", body, format="json")
    other = pos.post("/api/v1/events", {**body, "type": "visit"}, format="json")

    assert first.status_code == 201
    assert first.json()["status"] == "pending"
    assert first.json()["client_id"] == "C-1"
    assert (again.status_code, again["Idempotent-Replay"]) == (200, "true")
    assert again.json() == first.json()
    assert other.status_code == 409
    assert other.json()["error"]["code"] == "idempotency_conflict"
    assert Event.objects.count() == 1


def test_single_invalid_event_names_the_field_and_stores_nothing():
    member = MemberFactory()
    pos = integration("events:write")

    bad_payload = pos.post(
        "/api/v1/events",
        event("C-1", member, "sns_follow", payload={"platform": "myspace", "account": "@a"}),
        format="json",
    )
    unknown_member = pos.post(
        "/api/v1/events", {**event("C-2", member, "visit"), "member_number": "0"}, format="json"
    )
    purchase = pos.post("/api/v1/events", event("C-3", member, "purchase"), format="json")

    assert bad_payload.status_code == 400
    assert bad_payload.json()["error"]["fields"] == {
        "payload.platform": [
            "'myspace' is not one of ['instagram', 'x', 'line', 'tiktok', 'facebook', 'youtube']"
        ]
    }
    assert bad_payload.json()["error"]["message"] == (
        "payload.platform: 'myspace' is not one of "
        "['instagram', 'x', 'line', 'tiktok', 'facebook', 'youtube']"
    )
    assert unknown_member.json()["error"]["fields"] == {
        "member_number": ["No member has this number."]
    }
    assert purchase.json()["error"]["fields"] == {
        "type": ["Send purchase events to /api/v1/purchases."]
    }
    assert Event.objects.count() == 0


def test_batch_reports_each_invalid_item_and_keeps_the_valid_ones():
    member = MemberFactory()
    StoreFactory(code="TKY01")
    pos = integration("events:write")
    existing = event("B-0", member, "app_open")
    pos.post("/api/v1/events", existing, format="json")
    batch = [
        event("B-1", member, "visit", store_code="TKY01"),
        event("B-2", member, "visit", store_code="NOPE"),
        existing,
        {**existing, "type": "visit"},
        event("B-3", member, "no_such_type"),
        {"client_id": "B-4"},
        event("B-1", member, "visit", store_code="TKY01"),
        "junk",  # not an object: this item's rejection, not the batch's
        None,
    ]

    response = pos.post("/api/v1/events", {"events": batch}, format="json")

    assert response.status_code == 200
    body = response.json()
    assert (body["accepted"], body["duplicates"], body["rejected"], body["conflicts"]) == (
        1,
        2,
        5,
        1,
    )
    results = [(r["index"], r["client_id"], r["result"]) for r in body["results"]]
    assert results == [
        (0, "B-1", "accepted"),
        (1, "B-2", "rejected"),
        (2, "B-0", "duplicate"),
        (3, "B-0", "conflict"),
        (4, "B-3", "rejected"),
        (5, "B-4", "rejected"),
        (6, "B-1", "duplicate"),
        (7, "", "rejected"),
        (8, "", "rejected"),
    ]
    assert body["results"][1]["errors"] == {"store_code": ["No store has this code."]}
    assert body["results"][4]["errors"] == {"type": ["Unknown event type."]}
    assert set(body["results"][5]["errors"]) == {"type", "member_number", "occurred_at"}
    assert body["results"][7]["errors"] == {"non_field_errors": ["Must be an object."]}
    assert body["results"][8]["errors"] == {"non_field_errors": ["Must be an object."]}
    assert sorted(Event.objects.values_list("client_id", flat=True)) == ["B-0", "B-1"]


def test_batch_over_the_limit_is_refused_whole():
    member = MemberFactory()
    pos = integration("events:write")
    batch = [event(f"B-{n}", member, "app_open") for n in range(1001)]

    response = pos.post("/api/v1/events", {"events": batch}, format="json")

    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["events"]
    assert Event.objects.count() == 0


def test_store_bound_key_sends_events_only_for_its_store():
    member = MemberFactory()
    mine, other = StoreFactory(code="MINE"), StoreFactory(code="OTHER")
    pos = integration("events:write", store=mine)

    ok = pos.post("/api/v1/events", event("C-1", member, "visit", store_code="MINE"), format="json")
    refused = pos.post(
        "/api/v1/events", event("C-2", member, "visit", store_code=other.code), format="json"
    )

    assert ok.status_code == 201
    assert refused.status_code == 400
    assert refused.json()["error"]["fields"] == {
        "store_code": ["This API key may send events only for store MINE."]
    }


def test_event_status_and_effects_visible_to_the_sender_only():
    preset("survey_answered", survey="nps", points=30)
    member = MemberFactory()
    sender = integration("events:write", "events:read")
    sender.post(
        "/api/v1/events",
        event("S-1", member, "survey_answered", payload={"survey": "nps"}),
        format="json",
    )
    before = sender.get("/api/v1/events/S-1").json()
    process()

    after = sender.get("/api/v1/events/S-1")
    stranger = integration("events:read").get("/api/v1/events/S-1")

    assert before["status"] == "pending"
    assert before["effects"] == []
    assert after.status_code == 200
    assert after.json()["status"] == "processed"
    assert [
        (e["challenge"], e["version"], e["kind"], e["points"]) for e in after.json()["effects"]
    ] == [("survey-answered", 1, "points", 30)]
    assert stranger.status_code == 404


def test_member_app_events_are_the_callers_own_and_limited_to_app_types():
    preset("sns_follow", platform="instagram", account="@tea", points=100)
    member, other = MemberFactory(), MemberFactory()
    app = member_app(member)
    follow = {
        "client_id": "app-1",
        "type": "sns_follow",
        "occurred_at": (timezone.now() - dt.timedelta(hours=23)).isoformat(),
        "payload": {"platform": "instagram", "account": "@tea"},
        "member_number": other.member_number,  # ignored: always the caller
    }

    sent = app.post("/api/v1/me/events", follow, format="json")
    visit = app.post(
        "/api/v1/me/events",
        {**follow, "client_id": "app-2", "type": "visit", "payload": {}},
        format="json",
    )

    assert sent.status_code == 201
    assert sent.json()["member_number"] == member.member_number
    assert Event.objects.get().member == member
    assert visit.status_code == 400
    assert visit.json()["error"]["fields"] == {"type": ["Members can't send this event type."]}


def test_members_cannot_report_the_weather_or_back_date_their_events():
    # A member app event may say neither: a rainy-day or snow challenge would be the
    # member's to claim, and a back-dated one would land in a past campaign, day or month.
    member = MemberFactory()
    app = member_app(member)
    now = timezone.now()
    opened = {"client_id": "app-1", "type": "app_open", "occurred_at": now.isoformat()}

    snow = app.post(
        "/api/v1/me/events",
        {**opened, "weather": {"condition": "snow", "precipitation_mm": 10}},
        format="json",
    )
    old = app.post(
        "/api/v1/me/events",
        {**opened, "occurred_at": (now - dt.timedelta(hours=24, minutes=1)).isoformat()},
        format="json",
    )
    batch = app.post(
        "/api/v1/me/events",
        {"events": [{**opened, "weather": {"condition": "rain"}}]},
        format="json",
    )

    assert snow.status_code == old.status_code == 400
    assert snow.json()["error"]["fields"] == {
        "weather": ["Members can't report the weather; the observed weather is used."]
    }
    assert old.json()["error"]["fields"] == {
        "occurred_at": ["A member's event must be from the last 24 hours."]
    }
    assert batch.status_code == 400, batch.json()
    assert not Event.objects.exists()
    # The same, a day old at most and without weather, is stored; an integration may still
    # send the weather it observed (docs/challenges.md, "Weather").
    assert app.post("/api/v1/me/events", opened, format="json").status_code == 201
    pos = integration("events:write")
    observed = {**event("K-1", member, "app_open"), "weather": {"condition": "snow"}}
    assert pos.post("/api/v1/events", observed, format="json").status_code == 201
    assert Event.objects.count() == 2


def test_a_time_without_its_offset_is_refused_naming_the_field():
    # Read in the server's zone, a till elsewhere (or one sending UTC unsaid) would shift
    # every time by hours.
    member = MemberFactory()
    pos = integration("events:write")
    event_response = pos.post(
        "/api/v1/events",
        {**event("C-1", member, "app_open"), "occurred_at": "2026-06-05T10:00:00"},
        format="json",
    )
    purchase_response = pos.post(
        "/api/v1/purchases",
        {
            "order_id": "O-1",
            "member_number": member.member_number,
            "occurred_at": "2026-06-05T10:00:00",
            "total": 1000,
            "lines": [{"sku": "TEA", "quantity": 1, "unit_price": 1000}],
        },
        format="json",
    )
    message = ["Give the time's offset from UTC (+09:00, or Z for UTC)."]
    assert (event_response.status_code, event_response.json()["error"]["fields"]) == (
        400,
        {"occurred_at": message},
    )
    assert (purchase_response.status_code, purchase_response.json()["error"]["fields"]) == (
        400,
        {"occurred_at": message},
    )
    assert Event.objects.count() == 0
    # With an offset, or Z, it is taken.
    for client_id, when in (("C-2", "2026-06-05T10:00:00+09:00"), ("C-3", "2026-06-05T01:00:00Z")):
        body = {**event(client_id, member, "app_open"), "occurred_at": when}
        assert pos.post("/api/v1/events", body, format="json").status_code == 201


def test_payload_problems_name_the_path_to_the_key():
    from challenges.intake import payload_errors, payload_problems
    from challenges.models import EventType

    schema = {
        "type": "object",
        "required": ["items"],
        "properties": {
            "items": {
                "type": "array",
                "items": {"type": "object", "properties": {"sku": {"type": "string"}}},
            }
        },
    }
    kind = EventType(code="basket", name="Basket", payload_schema=schema)
    assert payload_problems(kind, {"items": [{"sku": "A"}, {"sku": 7}]}) == [
        ("items[1].sku", "7 is not of type 'string'")
    ]
    assert payload_problems(kind, {}) == [("", "'items' is a required property")]
    # One form field (the admin's dry run) gets them as messages naming the key.
    assert payload_errors(kind, {"items": [{"sku": 7}]}) == [
        "items[0].sku: 7 is not of type 'string'"
    ]
