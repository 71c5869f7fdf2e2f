"""The challenge admin: marketers create and edit challenges (new versions), store staff work
the verification queue."""

import datetime as dt
import json

import pytest
from django.contrib.admin.sites import site
from django.utils import translation

from challenges.models import Challenge, ChallengeVersion, EventType, Verification
from challenges.processing import events_process_pending
from loyalty.models import LedgerEntry
from tests.challenges.support import event, integration, preset
from tests.members.factories import MemberFactory

pytestmark = pytest.mark.django_db

DEFINITION = {
    "name": "Open the app",
    "triggers": ["app_open"],
    "effects": [{"type": "points", "points": 5}],
    "starts_at": "2026-01-01T00:00:00+09:00",
}


def test_marketer_creates_then_edits_a_challenge_making_versions(marketer):
    client, user = marketer
    created = client.post(
        "/admin/challenges/challenge/add/",
        {
            "code": "open",
            "status": "active",
            "definition": json.dumps(DEFINITION),
            "start_from_preset": "",
        },
    )
    assert created.status_code == 302
    challenge = Challenge.objects.get(code="open")
    assert (challenge.status, challenge.current_version.number) == ("active", 1)
    assert challenge.current_version.created_by == user

    edited = {**DEFINITION, "effects": [{"type": "points", "points": 8}]}
    changed = client.post(
        f"/admin/challenges/challenge/{challenge.pk}/change/",
        {
            "code": "open",
            "status": "paused",
            "definition": json.dumps(edited),
            "start_from_preset": "",
        },
    )
    assert changed.status_code == 302
    challenge.refresh_from_db()
    assert challenge.status == "paused"
    assert [(v.number, v.effects) for v in ChallengeVersion.objects.order_by("number")] == [
        (1, [{"type": "points", "points": 5}]),
        (2, [{"type": "points", "points": 8}]),
    ]


def test_invalid_definition_is_shown_on_the_form_and_saves_nothing(marketer):
    client, _user = marketer
    bad = {**DEFINITION, "conditions": {"field": "event.amout", "op": "eq", "value": 1}}

    response = client.post(
        "/admin/challenges/challenge/add/",
        {"code": "bad", "status": "draft", "definition": json.dumps(bad), "start_from_preset": ""},
    )

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors["definition"]
    assert errors[0].startswith("conditions: unknown field 'event.amout'")
    assert Challenge.objects.count() == 0
    # Beyond the columns' ranges: a form error naming the key, not a database error (500).
    for budget, key, limit in (
        ({"points": 10**19}, "points", 2**63 - 1),
        ({"coupons": 3_000_000_000}, "coupons", 2**31 - 1),
    ):
        huge = {**DEFINITION, "budget": budget}
        response = client.post(
            "/admin/challenges/challenge/add/",
            {"code": "huge", "status": "draft", "definition": json.dumps(huge)},
        )
        assert response.status_code == 200
        assert response.context["adminform"].form.errors["definition"] == [
            f"budget.{key}: Ensure this value is less than or equal to {limit}."
        ]
    assert Challenge.objects.count() == 0


def test_a_preset_fills_an_empty_definition(marketer):
    client, _user = marketer
    response = client.post(
        "/admin/challenges/challenge/add/",
        {
            "code": "rain",
            "status": "draft",
            "definition": "",
            "start_from_preset": "rainy_day_visit",
        },
    )
    assert response.status_code == 302
    version = Challenge.objects.get(code="rain").current_version
    assert (version.name, version.triggers) == ("Rainy day visit", ["visit"])
    challenge = Challenge.objects.get(code="rain")
    assert challenge.preset == "rainy_day_visit"
    # The picker is for adding only; its choices speak the admin's language.
    change = client.get(f"/admin/challenges/challenge/{challenge.pk}/change/")
    assert change.status_code == 200
    assert 'name="start_from_preset"' not in change.content.decode()
    add = client.get("/admin/challenges/challenge/add/", HTTP_ACCEPT_LANGUAGE="ja")
    choices = dict(add.context["adminform"].form.fields["start_from_preset"].choices)
    assert str(choices["rainy_day_visit"]) == "雨の日に来店"


def test_store_staff_approve_a_verification_and_the_points_arrive(staff):
    client, user = staff
    preset("sns_follow", account="@tea", points=70)
    member = MemberFactory()
    integration().post(
        "/api/v1/events",
        event("F-1", member, "sns_follow", payload={"platform": "instagram", "account": "@tea"}),
        format="json",
    )
    events_process_pending()
    verification = Verification.objects.get()

    listing = client.get("/admin/challenges/verification/?status__exact=pending")
    decided = client.post(
        f"/admin/challenges/verification/{verification.pk}/change/",
        {"decision": "approve", "note": "follow seen on the phone"},
        follow=True,
    )
    # The confirmation names it as decided.
    message = str(next(iter(decided.context["messages"])))
    assert f">Approved: event {verification.event_id}</a>” was changed successfully." in message
    verification.refresh_from_db()
    with translation.override("ja"):
        assert str(verification) == f"承認済み: イベント {verification.event_id}"

    assert listing.status_code == 200
    assert [v.pk for v in listing.context["cl"].result_list] == [verification.pk]
    assert decided.redirect_chain[0][1] == 302
    verification.refresh_from_db()
    assert (verification.status, verification.decided_by) == ("approved", user)
    assert list(
        LedgerEntry.objects.filter(member=member, source="challenge").values_list(
            "points", flat=True
        )
    ) == [70]
    # Decided: no longer editable.
    assert (
        client.get(f"/admin/challenges/verification/{verification.pk}/change/").context[
            "has_change_permission"
        ]
        is False
    )


def test_built_in_event_type_names_are_shown_in_the_users_language(marketer):
    client, _user = marketer
    EventType.objects.create(code="quiz", name="Quiz night")
    listing = client.get("/admin/challenges/eventtype/", HTTP_ACCEPT_LANGUAGE="ja")
    html = listing.content.decode()
    assert "アプリ起動" in html and "App opened" not in html  # built-in: translated
    assert "Quiz night" in html  # a marketer's own: as entered
    assert EventType.objects.get(code="app_open").name == "App opened"  # stored in English


def test_custom_event_type_schema_is_checked(marketer):
    client, _user = marketer
    bad = client.post(
        "/admin/challenges/eventtype/add/",
        {"code": "quiz", "name": "Quiz", "payload_schema": json.dumps({"type": "array"})},
    )
    good = client.post(
        "/admin/challenges/eventtype/add/",
        {
            "code": "quiz",
            "name": "Quiz",
            "member_app": "on",
            "payload_schema": json.dumps(
                {"type": "object", "properties": {"score": {"type": "integer"}}}
            ),
        },
    )
    assert bad.status_code == 200
    assert bad.context["adminform"].form.errors["payload_schema"] == [
        'A payload schema must describe an object ("type": "object").'
    ]
    assert good.status_code == 302
    assert EventType.objects.get(code="quiz").member_app is True


def test_the_versions_are_listed_in_the_programmes_time(settings):
    settings.TIME_ZONE = "Asia/Tokyo"
    challenge = preset("sns_follow", code="clock", platform="instagram", account="@a", points=1)
    created = ChallengeVersion.objects.get(challenge=challenge).created_at
    tokyo = created.astimezone(dt.timezone(dt.timedelta(hours=9)))
    listed = site._registry[Challenge].versions_list(challenge)
    assert listed == f"v1 {tokyo:%Y-%m-%d %H:%M}"
    assert listed != f"v1 {created.astimezone(dt.UTC):%Y-%m-%d %H:%M}"  # nine hours apart
