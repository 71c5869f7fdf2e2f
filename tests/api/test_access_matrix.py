"""Guarantee 5 over HTTP: who may call which API endpoint, as one table.

`MATRIX` says, for every endpoint of the `api` URL namespace and every kind of caller, the exact
status the call gets. Every cell is a test that sends a valid request, so a success is a real
success (its effect is checked) and a denial is a real denial (nothing in the database changed).
`test_every_api_endpoint_has_a_matrix_row` derives the endpoints from the URLconf, so a new
endpoint cannot ship without its row; `test_docs_table_is_the_matrix` keeps the "Access control"
table in docs/api.md equal to `MATRIX`. The cross-member tests then try, with member A's token,
every place a client could slip in member B's identifiers.
"""

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.db import transaction
from django.test import override_settings
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone
from rest_framework.test import APIClient

from challenges.intake import events_ingest
from challenges.models import (
    Award,
    Challenge,
    ChallengeCounter,
    Event,
    GoalProgress,
    LimitCounter,
    Verification,
)
from challenges.presets import PRESETS
from challenges.processing import events_process_pending
from challenges.services import challenge_create
from loyalty.coupons import coupon_issue
from loyalty.ledger import points_earn, points_spend
from loyalty.models import (
    Coupon,
    CouponTemplate,
    IdempotencyRecord,
    LedgerEntry,
    Purchase,
    PurchaseReturn,
)
from loyalty.models.ledger import EntrySource, PointLot
from loyalty.purchases import Line, purchase_record
from members.api_keys import SCOPES, api_key_create, api_key_revoke
from members.member_tokens import LoginFailed, member_token_login, member_token_revoke
from members.models import ApiKey, Member, MemberToken, Store
from members.services import member_withdraw
from metrics.models import Answer, KpiSnapshot, Survey, SurveyResponse
from metrics.services import survey_answer
from tests.loyalty.factories import CouponTemplateFactory
from tests.members.factories import MemberFactory, StoreFactory, UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "app-pass-123"
B_PASSWORD = "bee-pass-456"
NEW_PASSWORD = "sora-iro-2027-kumo"
DOCS = Path(__file__).resolve().parents[2] / "docs" / "api.md"

# Caller kinds: (id, column header in docs/api.md).
CALLERS = [
    ("anonymous", "no credentials"),
    ("malformed", "malformed header"),
    ("revoked_key", "revoked key"),
    ("key_no_scopes", "key, no scopes"),
    ("key_other_scopes", "key, every other scope"),
    ("key", "key + scope"),
    ("key_own_store", "key + scope, own store"),
    ("key_other_store", "key + scope, other store"),
    ("member", "member token"),
    ("member_expired", "expired token"),
    ("member_logged_out", "logged-out token"),
    ("member_withdrawn", "withdrawn member's token"),
]
CALLER_IDS = [caller for caller, _header in CALLERS]

# Who may call each endpoint: "public" (no credentials needed; the Authorization header is not
# even read), "member token" (the /me family) or the scope an API key needs.
ACCESS: dict[tuple[str, str], str] = {
    ("GET", "health"): "public",
    ("POST", "members"): "members:write",
    ("GET", "member"): "members:read",
    ("PATCH", "member"): "members:write",
    ("POST", "withdraw"): "members:write",
    ("POST", "purchases"): "events:write",
    ("POST", "returns"): "events:write",
    ("POST", "points-adjustments"): "points:adjust",
    ("POST", "coupons-issue"): "coupons:issue",
    ("POST", "coupons-redeem"): "coupons:redeem",
    ("POST", "events"): "events:write",
    ("GET", "event"): "events:read",
    ("POST", "challenge-dry-run"): "challenges:read",
    ("GET", "kpis"): "kpis:read",
    ("POST", "me-events"): "member token",
    ("GET", "me-challenges"): "member token",
    ("POST", "auth-token"): "public",
    ("POST", "auth-logout"): "member token",
    ("GET", "me"): "member token",
    ("PATCH", "me"): "member token",
    ("POST", "me-password"): "member token",
    ("GET", "me-points"): "member token",
    ("GET", "me-ledger"): "member token",
    ("GET", "me-coupons"): "member token",
    ("GET", "me-card"): "member token",
    ("GET", "me-surveys"): "member token",
    ("GET", "me-survey"): "member token",
    ("POST", "me-survey-answers"): "member token",
}

# (method, URL name in the `api` namespace) -> the exact status for each caller, in CALLERS
# order. Store-bound keys are checked where the request names a store: purchases, returns and
# redemptions answer 403; an event for another store is refused like any invalid event, 400
# naming store_code (in a batch, per item). Members, adjustments, coupon issues, event reads and
# dry runs carry no store checked against the key, so a key bound to any store gets there what
# its scope allows. An event is read only by the key that sent it. For rows without a scope
# (public, /me), the "key + scope" columns use a key holding every scope.
# fmt: off
MATRIX: dict[tuple[str, str], tuple[int, ...]] = {
    #                                none bad  rvk  nosc othr key  own  othr mt   exp  out  wdr
    ("GET", "health"):              (200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200),
    ("POST", "members"):            (401, 401, 401, 403, 403, 201, 201, 201, 403, 401, 401, 401),
    ("GET", "member"):              (401, 401, 401, 403, 403, 200, 200, 200, 403, 401, 401, 401),
    ("PATCH", "member"):            (401, 401, 401, 403, 403, 200, 200, 200, 403, 401, 401, 401),
    ("POST", "withdraw"):           (401, 401, 401, 403, 403, 200, 200, 200, 403, 401, 401, 401),
    ("POST", "purchases"):          (401, 401, 401, 403, 403, 201, 201, 403, 403, 401, 401, 401),
    ("POST", "returns"):            (401, 401, 401, 403, 403, 201, 201, 403, 403, 401, 401, 401),
    ("POST", "points-adjustments"): (401, 401, 401, 403, 403, 201, 201, 201, 403, 401, 401, 401),
    ("POST", "coupons-issue"):      (401, 401, 401, 403, 403, 201, 201, 201, 403, 401, 401, 401),
    ("POST", "coupons-redeem"):     (401, 401, 401, 403, 403, 200, 200, 403, 403, 401, 401, 401),
    ("POST", "events"):             (401, 401, 401, 403, 403, 201, 201, 400, 403, 401, 401, 401),
    ("GET", "event"):               (401, 401, 401, 403, 403, 200, 200, 200, 403, 401, 401, 401),
    ("POST", "challenge-dry-run"):  (401, 401, 401, 403, 403, 200, 200, 200, 403, 401, 401, 401),
    ("GET", "kpis"):                (401, 401, 401, 403, 403, 200, 200, 403, 403, 401, 401, 401),
    ("POST", "me-events"):          (401, 401, 401, 403, 403, 403, 403, 403, 201, 401, 401, 401),
    ("GET", "me-challenges"):       (401, 401, 401, 403, 403, 403, 403, 403, 200, 401, 401, 401),
    ("POST", "auth-token"):         (201, 201, 201, 201, 201, 201, 201, 201, 201, 201, 201, 201),
    ("POST", "auth-logout"):        (401, 401, 401, 403, 403, 403, 403, 403, 204, 401, 401, 401),
    ("GET", "me"):                  (401, 401, 401, 403, 403, 403, 403, 403, 200, 401, 401, 401),
    ("PATCH", "me"):                (401, 401, 401, 403, 403, 403, 403, 403, 200, 401, 401, 401),
    ("POST", "me-password"):        (401, 401, 401, 403, 403, 403, 403, 403, 204, 401, 401, 401),
    ("GET", "me-points"):           (401, 401, 401, 403, 403, 403, 403, 403, 200, 401, 401, 401),
    ("GET", "me-ledger"):           (401, 401, 401, 403, 403, 403, 403, 403, 200, 401, 401, 401),
    ("GET", "me-coupons"):          (401, 401, 401, 403, 403, 403, 403, 403, 200, 401, 401, 401),
    ("GET", "me-card"):             (401, 401, 401, 403, 403, 403, 403, 403, 200, 401, 401, 401),
    ("GET", "me-surveys"):          (401, 401, 401, 403, 403, 403, 403, 403, 200, 401, 401, 401),
    ("GET", "me-survey"):           (401, 401, 401, 403, 403, 403, 403, 403, 200, 401, 401, 401),
    ("POST", "me-survey-answers"):  (401, 401, 401, 403, 403, 403, 403, 403, 201, 401, 401, 401),
}
# fmt: on
DENIAL_CODES = {401: {"not_authenticated", "authentication_failed"}, 403: {"permission_denied"}}


# --- The data every cell runs against ----------------------------------------------------------


@dataclass
class World:
    """Member A (the caller wherever a member is involved), member B (whose data must never
    show or change), A's home store X and another store Y, and two active challenges B has
    already taken part in: "survey" (answering survey S1) and "app" (opening the app)."""

    store: Store
    other_store: Store
    a: Member
    b: Member
    template: CouponTemplate
    a_coupons: list[Coupon]
    b_coupons: list[Coupon]
    challenge: Challenge  # "survey"
    tokens: dict[str, str] = field(default_factory=dict)  # raw member tokens by caller kind
    survey: Survey | None = None  # "S1", the challenge's survey, which B has answered

    def fresh(self, member: Member) -> Member:
        return Member.objects.get(pk=member.pk)


def member_with_login(password: str = PASSWORD, **kw) -> Member:
    return MemberFactory(user=UserFactory(password=password), **kw)


def login(member: Member, password: str = PASSWORD) -> str:
    _token, raw = member_token_login(login=member.member_number, password=password)
    return raw


def token_row(raw: str) -> MemberToken:
    return MemberToken.objects.get(prefix=raw.split("_")[1])


def survey_event(client_id: str, about: Member | None = None, **extra) -> dict:
    """A survey_answered event for the "survey" challenge, as an integration sends it (the
    member app may not: members answer the survey itself)."""
    body = {
        "client_id": client_id,
        "type": "survey_answered",
        "occurred_at": timezone.now().isoformat(),
        "payload": {"survey": "S1"},
        **extra,
    }
    return {**body, "member_number": about.member_number} if about else body


def app_event(client_id: str, **extra) -> dict:
    """An app_open event for the "app" challenge, as the member app sends it (no
    member_number: always the caller)."""
    return {
        "client_id": client_id,
        "type": "app_open",
        "occurred_at": timezone.now().isoformat(),
        "payload": {},
        **extra,
    }


# Members log in many times per test; the production hasher would dominate the runtime.
FAST_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = FAST_HASHERS


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    """Built once, in a transaction rolled back after the module's last test. Each test runs in
    a savepoint inside it (pytest-django's `db`), so no test sees another's writes."""
    with django_db_blocker.unblock(), override_settings(PASSWORD_HASHERS=FAST_HASHERS):
        with transaction.atomic():
            yield world_build()
            transaction.set_rollback(True)


def world_build() -> World:
    x, y = StoreFactory(code="X01"), StoreFactory(code="Y01")
    a = member_with_login(home_store=x, email="a@example.com", phone="+819011110000")
    b = member_with_login(B_PASSWORD, home_store=y, email="b@example.com", phone="+819022220000")
    withdrawn = member_with_login()
    yesterday = timezone.now() - dt.timedelta(days=1)
    purchase_record(
        member=a,
        order_reference="ORD-A",
        total=5000,
        occurred_at=yesterday,
        store=x,
        lines=[Line(sku="TEA", quantity=2, unit_price=2500)],
    )
    purchase_record(
        member=b,
        order_reference="ORD-B",
        total=8000,
        occurred_at=yesterday,
        store=y,
        lines=[Line(sku="CAKE", quantity=1, unit_price=8000)],
    )
    points_earn(member=a, points=100, source=EntrySource.API, reason="welcome")
    points_earn(member=b, points=300, source=EntrySource.API, reason="welcome")
    points_spend(member=b, points=20, reference="SPEND-B")
    template = CouponTemplateFactory(per_member_limit=None)
    a_coupons = [coupon_issue(template=template, member=m, issued_via="api") for m in (a, a)]
    b_coupons = [coupon_issue(template=template, member=m, issued_via="api") for m in (b, b, b)]
    definition = PRESETS["survey_answered"].definition(survey="S1", points=30)
    definition["starts_at"] = timezone.now() - dt.timedelta(days=30)
    challenge = challenge_create(code="survey", definition=definition, status="active")
    challenge_create(
        code="app",
        definition={
            "name": "Open the app",
            "triggers": ["app_open"],
            "effects": [{"type": "points", "points": 5}],
            "limit": {"count": 1, "period": "campaign"},
            "starts_at": definition["starts_at"],
        },
        status="active",
    )
    # B opened the app, answered the survey S1 in the app (a response and a survey_answered
    # event from the survey service), and then B's POS sent a survey_answered event about B
    # too: B now has awards (5 points for the app open, 30 for the answer; the POS event
    # comes after the answer and finds the survey challenge's limit used), limit counters
    # and events, all of which A's token must never show.
    events_ingest(
        source_key=f"member:{b.pk}", items=[app_event("APP-1")], member=b, member_app=True
    )
    survey = Survey.objects.create(code="S1", title="Your visit")
    question = survey.questions.create(position=1, kind="nps", text="Recommend us?")
    survey_answer(member=b, survey=survey, answers=[{"question": question.pk, "score": 9}])
    b_pos, _raw = api_key_create(name="B's POS", scopes=["events:write", "events:read"])
    events_ingest(source_key=f"key:{b_pos.pk}", items=[survey_event("EV-1", b)])
    assert events_process_pending(batch_size=50) == 3
    tokens = {"member": login(a), "b": login(b, B_PASSWORD)}
    tokens["member_expired"] = login(a)
    MemberToken.objects.filter(pk=token_row(tokens["member_expired"]).pk).update(
        expires_at=timezone.now() - dt.timedelta(seconds=1)
    )
    tokens["member_logged_out"] = login(a)
    member_token_revoke(token=token_row(tokens["member_logged_out"]))
    tokens["member_withdrawn"] = login(withdrawn)
    member_withdraw(member=withdrawn)
    return World(
        store=x,
        other_store=y,
        a=Member.objects.get(pk=a.pk),
        b=Member.objects.get(pk=b.pk),
        template=template,
        a_coupons=a_coupons,
        b_coupons=b_coupons,
        challenge=challenge,
        tokens=tokens,
        survey=survey,
    )


WATCHED = [
    Member,
    get_user_model(),
    LedgerEntry,
    PointLot,
    Coupon,
    CouponTemplate,
    Purchase,
    PurchaseReturn,
    IdempotencyRecord,
    MemberToken,
    ApiKey,
    Event,
    Award,
    LimitCounter,
    GoalProgress,
    Verification,
    ChallengeCounter,
    SurveyResponse,
    Answer,
]


def snapshot() -> dict[str, list[dict]]:
    return {m.__name__: list(m.objects.order_by("pk").values()) for m in WATCHED}


def counts(state: dict[str, list[dict]]) -> dict[str, int]:
    return {name: len(rows) for name, rows in state.items()}


def rows_of(member: Member, state: dict[str, list[dict]] | None = None) -> dict:
    """The rows of `state` (default: now) that belong to one member: what no call about
    someone else may change."""
    state = snapshot() if state is None else state
    user_table = get_user_model().__name__

    def belongs(table: str, row: dict) -> bool:
        if table == "Member":
            return row["id"] == member.pk
        if table == user_table:
            return row["id"] == member.user_id
        return row.get("member_id") == member.pk

    return {table: [r for r in rows if belongs(table, r)] for table, rows in state.items()}


# --- One request per endpoint: valid, about member A ---------------------------------------------


@dataclass(frozen=True)
class Call:
    kwargs: dict = field(default_factory=dict)  # URL arguments
    body: dict | None = None
    headers: dict = field(default_factory=dict)  # as WSGI environ keys


@dataclass(frozen=True)
class Endpoint:
    call: Callable[[World], Call]
    # On success: asserts the response and the effect (reads: nothing changed at all).
    check: Callable[..., None]  # (world, response, snapshot before the call)
    # Runs once the caller's credentials exist (an event is read only by the key that sent it).
    prepare: Callable[[World], None] | None = None


def idem(key: str) -> dict:
    return {"HTTP_IDEMPOTENCY_KEY": key}


def check_health(world, response, before):
    assert response.json() == {"database": "ok", "broker": "ok"}
    assert snapshot() == before


def check_register(world, response, before):
    data = response.json()
    assert (data["name"], data["email"], data["status"]) == ("New", "new@example.com", "active")
    assert Member.objects.count() == len(before["Member"]) + 1
    assert Member.objects.get(member_number=data["member_number"]).name == "New"


def check_member_read(world, response, before):
    data = response.json()
    assert (data["member_number"], data["email"]) == (world.a.member_number, "a@example.com")
    assert snapshot() == before


def check_member_patch(world, response, before):
    assert response.json()["name"] == "Renamed by POS"
    assert world.fresh(world.a).name == "Renamed by POS"


def check_withdraw(world, response, before):
    assert response.json()["status"] == "withdrawn"
    assert world.fresh(world.a).status == Member.Status.WITHDRAWN


def check_purchase(world, response, before):
    assert response.json()["points_earned"] == 12
    purchase = Purchase.objects.get(order_reference="ORD-NEW")
    assert (purchase.member_id, purchase.store_id) == (world.a.pk, world.store.pk)


def check_return(world, response, before):
    assert (response.json()["order_id"], response.json()["points_reversed"]) == ("ORD-A", 10)
    assert PurchaseReturn.objects.get(return_reference="RET-1").amount == 1000


def check_adjustment(world, response, before):
    assert response.json()["points"] == 50
    assert world.fresh(world.a).points_available == world.a.points_available + 50


def check_issue(world, response, before):
    assert response.json()["member_number"] == world.a.member_number
    assert Coupon.objects.filter(member=world.a).count() == len(world.a_coupons) + 1


def check_redeem(world, response, before):
    coupon = Coupon.objects.get(pk=world.a_coupons[0].pk)
    assert (coupon.status, coupon.order_reference) == (Coupon.Status.USED, "ORD-R")


def check_events(world, response, before):
    data = response.json()
    assert (data["client_id"], data["member_number"], data["status"]) == (
        "EV-NEW",
        world.a.member_number,
        "pending",
    )
    event = Event.objects.get(client_id="EV-NEW")
    assert (event.member_id, event.store_id) == (world.a.pk, world.store.pk)
    assert event.source_key.startswith("key:")


def every_key_sent_ev1(world):
    """Event EV-1 about A, sent by each key that has not sent an EV-1 yet."""
    for key in ApiKey.objects.all():
        source = f"key:{key.pk}"
        if not Event.objects.filter(source_key=source, client_id="EV-1").exists():
            item = survey_event("EV-1", world.a, store_code=world.store.code)
            [result] = events_ingest(source_key=source, items=[item])
            assert result.result == "accepted", result.errors


def check_event_read(world, response, before):
    data = response.json()
    assert (data["client_id"], data["member_number"]) == ("EV-1", world.a.member_number)
    assert snapshot() == before


def check_dry_run(world, response, before):
    data = response.json()
    assert data["member_number"] == world.a.member_number
    # Every active challenge is tried, as the worker would: app is not triggered by it.
    assert [(o["challenge"], o["fires"], o["stage"]) for o in data["outcomes"]] == [
        ("survey", True, "fired"),
        ("app", False, "trigger"),
    ]
    assert snapshot() == before


def kpi_snapshot_of_store_x(world):
    """A KPI snapshot for store X's members (the call reads store X's segment)."""
    KpiSnapshot.objects.get_or_create(
        kpi="members",
        segment=f"store:{world.store.code}",
        period="month",
        period_start=dt.date(2026, 5, 1),
        defaults={"value": 1, "n": 1},
    )


def check_kpis(world, response, before):
    data = response.json()
    assert [(r["kpi"], r["segment"], r["value"]) for r in data["results"]] == [
        ("members", f"store:{world.store.code}", 1.0)
    ]
    assert snapshot() == before


def check_me_events(world, response, before):
    assert response.json()["member_number"] == world.a.member_number
    event = Event.objects.get(source_key=f"member:{world.a.pk}", client_id="APP-A")
    assert (event.member_id, event.type.code, event.status) == (world.a.pk, "app_open", "pending")


def check_me_challenges(world, response, before):
    assert [(c["code"], c["times_this_period"]) for c in response.json()] == [
        ("survey", 0),
        ("app", 0),
    ]
    assert snapshot() == before


def check_password(world, response, before):
    user = get_user_model().objects.get(pk=world.a.user_id)
    assert user.check_password(NEW_PASSWORD)
    # Every other token of A ends; the session that asked goes on.
    assert bearer(world.tokens["member"]).get("/api/v1/me").status_code == 200
    live = MemberToken.objects.filter(member=world.a, revoked_at__isnull=True)
    assert list(live) == [token_row(world.tokens["member"])]


def check_token(world, response, before):
    raw = response.json()["token"]
    assert raw.startswith("mt_")
    assert bearer(raw).get("/api/v1/me").json()["member_number"] == world.a.member_number


def check_logout(world, response, before):
    assert MemberToken.objects.get(prefix=world.tokens["member"].split("_")[1]).revoked_at
    assert bearer(world.tokens["member"]).get("/api/v1/me").status_code == 401
    assert bearer(world.tokens["b"]).get("/api/v1/me").status_code == 200


def check_me(world, response, before):
    assert response.json()["member_number"] == world.a.member_number
    assert snapshot() == before


def check_me_patch(world, response, before):
    assert response.json()["name"] == "Renamed in app"
    assert world.fresh(world.a).name == "Renamed in app"


def check_me_points(world, response, before):
    a = world.a
    data = response.json()
    assert (data["available"], data["lifetime"]) == (a.points_available, a.points_lifetime)
    assert snapshot() == before


def check_me_ledger(world, response, before):
    ids = {row["id"] for row in response.json()["results"]}
    assert ids == set(LedgerEntry.objects.filter(member=world.a).values_list("pk", flat=True))
    assert snapshot() == before


def check_me_coupons(world, response, before):
    codes = {row["code"].replace("-", "") for row in response.json()["results"]}
    assert codes == {c.code for c in world.a_coupons}
    assert snapshot() == before


def check_me_card(world, response, before):
    assert response.json()["barcode"]["payload"] == world.a.member_number
    assert snapshot() == before


def survey_answers(world, **extra) -> dict:
    question = world.survey.questions.get()
    return {"answers": [{"question": question.pk, "score": 7}], **extra}


def check_me_surveys(world, response, before):
    assert [(s["code"], s["answered"], s["can_answer"]) for s in response.json()] == [
        ("S1", False, True)
    ]
    assert snapshot() == before


def check_me_survey(world, response, before):
    data = response.json()
    assert (data["code"], data["answered"], data["times_answered"]) == ("S1", False, 0)
    assert snapshot() == before


def check_me_survey_answer(world, response, before):
    data = response.json()
    stored = SurveyResponse.objects.get(pk=data["id"])
    assert (stored.member_id, stored.store_id, data["answers"][0]["score"]) == (
        world.a.pk,
        world.store.pk,
        7,
    )
    event = Event.objects.get(source_key="surveys", client_id=f"survey:{stored.pk}")
    assert (event.member_id, event.payload) == (world.a.pk, {"survey": "S1", "score": 7})


ENDPOINTS: dict[tuple[str, str], Endpoint] = {
    ("GET", "health"): Endpoint(lambda w: Call(), check_health),
    ("POST", "members"): Endpoint(
        lambda w: Call(body={"name": "New", "email": "new@example.com"}, headers=idem("r1")),
        check_register,
    ),
    ("GET", "member"): Endpoint(
        lambda w: Call(kwargs={"member_number": w.a.member_number}), check_member_read
    ),
    ("PATCH", "member"): Endpoint(
        lambda w: Call(
            kwargs={"member_number": w.a.member_number}, body={"name": "Renamed by POS"}
        ),
        check_member_patch,
    ),
    ("POST", "withdraw"): Endpoint(
        lambda w: Call(kwargs={"member_number": w.a.member_number}), check_withdraw
    ),
    ("POST", "purchases"): Endpoint(
        lambda w: Call(
            body={
                "order_id": "ORD-NEW",
                "member_number": w.a.member_number,
                "store_code": w.store.code,
                "occurred_at": timezone.now().isoformat(),
                "total": 1200,
                "lines": [{"sku": "TEA", "quantity": 1, "unit_price": 1200}],
            }
        ),
        check_purchase,
    ),
    ("POST", "returns"): Endpoint(
        lambda w: Call(body={"order_id": "ORD-A", "return_id": "RET-1", "amount": 1000}),
        check_return,
    ),
    ("POST", "points-adjustments"): Endpoint(
        lambda w: Call(
            body={"member_number": w.a.member_number, "points": 50, "reason": "goodwill"},
            headers=idem("adj-1"),
        ),
        check_adjustment,
    ),
    ("POST", "coupons-issue"): Endpoint(
        lambda w: Call(
            body={"template": w.template.code, "member_number": w.a.member_number},
            headers=idem("iss-1"),
        ),
        check_issue,
    ),
    ("POST", "coupons-redeem"): Endpoint(
        lambda w: Call(
            body={"code": w.a_coupons[0].code, "order_id": "ORD-R", "store_code": w.store.code}
        ),
        check_redeem,
    ),
    ("POST", "events"): Endpoint(
        lambda w: Call(body=survey_event("EV-NEW", w.a, store_code=w.store.code)), check_events
    ),
    ("GET", "event"): Endpoint(
        lambda w: Call(kwargs={"client_id": "EV-1"}), check_event_read, every_key_sent_ev1
    ),
    ("POST", "challenge-dry-run"): Endpoint(
        lambda w: Call(
            kwargs={"code": w.challenge.code},
            body={
                "type": "survey_answered",
                "member_number": w.a.member_number,
                "store_code": w.store.code,
                "payload": {"survey": "S1"},
            },
        ),
        check_dry_run,
    ),
    ("GET", "kpis"): Endpoint(
        lambda w: Call(body={"segment": f"store:{w.store.code}", "period": "month"}),
        check_kpis,
        kpi_snapshot_of_store_x,
    ),
    ("POST", "me-events"): Endpoint(lambda w: Call(body=app_event("APP-A")), check_me_events),
    ("GET", "me-challenges"): Endpoint(lambda w: Call(), check_me_challenges),
    ("POST", "auth-token"): Endpoint(
        lambda w: Call(body={"login": w.a.member_number, "password": PASSWORD}), check_token
    ),
    ("POST", "auth-logout"): Endpoint(lambda w: Call(), check_logout),
    ("GET", "me"): Endpoint(lambda w: Call(), check_me),
    ("PATCH", "me"): Endpoint(lambda w: Call(body={"name": "Renamed in app"}), check_me_patch),
    ("POST", "me-password"): Endpoint(
        lambda w: Call(body={"current_password": PASSWORD, "new_password": NEW_PASSWORD}),
        check_password,
    ),
    ("GET", "me-points"): Endpoint(lambda w: Call(), check_me_points),
    ("GET", "me-ledger"): Endpoint(lambda w: Call(), check_me_ledger),
    ("GET", "me-coupons"): Endpoint(lambda w: Call(), check_me_coupons),
    ("GET", "me-card"): Endpoint(lambda w: Call(), check_me_card),
    ("GET", "me-surveys"): Endpoint(lambda w: Call(), check_me_surveys),
    ("GET", "me-survey"): Endpoint(lambda w: Call(kwargs={"code": "S1"}), check_me_survey),
    ("POST", "me-survey-answers"): Endpoint(
        lambda w: Call(kwargs={"code": "S1"}, body=survey_answers(w, store_code=w.store.code)),
        check_me_survey_answer,
    ),
}


def send(client: APIClient, endpoint: tuple[str, str], call: Call):
    method, name = endpoint
    url = reverse(f"api:{name}", kwargs=call.kwargs)
    if method == "GET":
        return client.get(url, call.body or {}, **call.headers)
    return getattr(client, method.lower())(url, call.body, format="json", **call.headers)


def bearer(raw: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


# --- Credentials for each kind of caller --------------------------------------------------------


def new_key(scopes, store=None) -> str:
    _key, raw = api_key_create(name="access matrix", scopes=list(scopes), store=store)
    return raw


def authorizations(caller: str, endpoint: tuple[str, str], world: World) -> list[str | None]:
    """The Authorization header(s) this kind of caller sends (None: no header)."""
    access = ACCESS[endpoint]
    needed = [access] if access in SCOPES else sorted(SCOPES)  # /me rows: a key with everything
    if caller == "anonymous":
        return [None]
    if caller.startswith("member"):
        return [f"Bearer {world.tokens[caller]}"]
    if caller == "malformed":
        key, token = new_key(SCOPES), world.tokens["member"]
        key_prefix, token_prefix = key.split("_")[1], token.split("_")[1]
        return [
            "Api-Key",
            "Api-Key ",
            "Api-Key lk_nope",
            f"Api-Key lk_{key_prefix}_not-the-secret",
            f"Api-Key {key}x",
            f"api-key {key}",  # the keyword is case-sensitive: not recognised
            f"Token {key}",
            f"Bearer {key}",  # an API key presented as a member token
            f"Api-Key {token}",  # a member token presented as an API key
            f"Bearer mt_{token_prefix}_not-the-secret",
            f"Bearer {token}x",
            "Bearer",
            "Basic dXNlcjpwYXNz",
        ]
    if caller == "revoked_key":
        raw = new_key(SCOPES)
        api_key_revoke(key=ApiKey.objects.get(prefix=raw.split("_")[1]))
        return [f"Api-Key {raw}"]
    scopes = {
        "key_no_scopes": [],
        "key_other_scopes": sorted(set(SCOPES) - set(needed) or SCOPES),
    }.get(caller, needed)
    store = {"key_own_store": world.store, "key_other_store": world.other_store}.get(caller)
    return [f"Api-Key {new_key(scopes, store)}"]


CELLS = [
    pytest.param(endpoint, caller, id=f"{endpoint[0]} {endpoint[1]} | {caller}")
    for endpoint in MATRIX
    for caller in CALLER_IDS
]


@pytest.mark.parametrize(("endpoint", "caller"), CELLS)
def test_access_matrix_cell(world, endpoint, caller):
    expected = MATRIX[endpoint][CALLER_IDS.index(caller)]
    spec = ENDPOINTS[endpoint]
    for authorization in authorizations(caller, endpoint, world):
        client = APIClient()
        if authorization is not None:
            client.credentials(HTTP_AUTHORIZATION=authorization)
        if spec.prepare:
            spec.prepare(world)
        call = spec.call(world)
        before = snapshot()
        response = send(client, endpoint, call)
        assert response.status_code == expected, (authorization, response.content)
        if expected >= 400:
            error = response.json()["error"]
            if expected in DENIAL_CODES:
                assert error["code"] in DENIAL_CODES[expected], error
            else:  # an event for another store: refused like any invalid event
                assert (error["code"], list(error["fields"])) == ("invalid", ["store_code"])
            after = snapshot()
            assert counts(after) == counts(before)
            assert after == before
        else:
            spec.check(world, response, before)
        assert rows_of(world.b) == rows_of(world.b, before)


# --- The matrix covers every endpoint, and the docs show the matrix ------------------------------


def api_routes() -> dict[tuple[str, str], str]:
    """(method, URL name) -> documented path, for every view in the `api` namespace."""
    prefix, resolver = get_resolver().namespace_dict["api"]
    routes: dict[tuple[str, str], str] = {}

    def walk(patterns, path_prefix):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, path_prefix + str(pattern.pattern))
                continue
            assert isinstance(pattern, URLPattern)
            view = pattern.callback.view_class
            path = "/" + path_prefix + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", str(pattern.pattern))
            for method in view.http_method_names:
                if method not in ("head", "options") and hasattr(view, method):
                    routes[(method.upper(), pattern.name)] = path

    walk(resolver.url_patterns, prefix)
    return routes


def test_every_api_endpoint_has_a_matrix_row():
    routes = api_routes()
    missing = sorted(set(routes) - set(MATRIX))
    stale = sorted(set(MATRIX) - set(routes))
    assert not missing, (
        "API endpoint(s) without an access-control row in tests/api/test_access_matrix.py "
        "(add its ACCESS and MATRIX rows, an ENDPOINTS request, and the row to the table in "
        "docs/api.md, which test_docs_table_is_the_matrix prints): "
        + ", ".join(f"{m} {routes[(m, n)]} (api:{n})" for m, n in missing)
    )
    assert not stale, f"MATRIX rows for endpoints that no longer exist: {stale}"
    assert set(ENDPOINTS) == set(ACCESS) == set(MATRIX)


def test_matrix_follows_the_access_rules():
    """The literal table agrees with the rules it encodes (a typo in one cell shows here)."""
    assert set(ACCESS) == set(MATRIX)
    for endpoint, statuses in MATRIX.items():
        access = ACCESS[endpoint]
        row = dict(zip(CALLER_IDS, statuses, strict=True))
        success = {s for s in statuses if s < 300}
        assert len(success) == 1, endpoint
        if access == "public":
            assert set(statuses) == success, endpoint
            continue
        bad_credentials = ["anonymous", "malformed", "revoked_key"]
        bad_credentials += ["member_expired", "member_logged_out", "member_withdrawn"]
        assert {row[c] for c in bad_credentials} == {401}, endpoint
        assert row["key_no_scopes"] == row["key_other_scopes"] == 403, endpoint
        if access == "member token":
            assert row["member"] in success, endpoint
            assert {row[c] for c in CALLER_IDS if c.startswith("key")} == {403}, endpoint
        else:
            assert access in SCOPES, endpoint
            assert row["member"] == 403, endpoint
            assert row["key"] in success and row["key_own_store"] in success, endpoint


def docs_table() -> tuple[list[str], list[list[str]]]:
    text = DOCS.read_text(encoding="utf-8")
    match = re.search(r"^## Access control\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert match, "docs/api.md has no '## Access control' section"
    lines = [ln.strip() for ln in match.group(1).splitlines() if ln.strip().startswith("|")]
    rows = [[cell.strip() for cell in ln.strip("|").split("|")] for ln in lines]
    assert len(rows) > 2 and set("".join(rows[1])) <= set("-: "), "no table in the section"
    return rows[0], rows[2:]


def test_docs_table_is_the_matrix():
    header, rows = docs_table()
    assert header == ["endpoint", "access", *[h for _c, h in CALLERS]]
    paths = {f"`{key[0]} {path}`": key for key, path in api_routes().items()}
    access, statuses = {}, {}
    for row in rows:
        assert row[0] in paths, f"docs/api.md access table: unknown endpoint {row[0]}"
        access[paths[row[0]]] = row[1].strip("`")
        statuses[paths[row[0]]] = tuple(int(cell) for cell in row[2:])
    # Same rows, cells and order as the matrix; on a difference, the message is the table to paste.
    expected = f"docs/api.md, section Access control, should have this table:\n{markdown_table()}"
    assert access == ACCESS, expected
    assert statuses == MATRIX, expected
    assert [paths[row[0]] for row in rows] == list(MATRIX), expected


def markdown_table() -> str:
    """The table for docs/api.md, from ACCESS and MATRIX."""
    routes = api_routes()
    lines = [
        "| " + " | ".join(["endpoint", "access", *[h for _c, h in CALLERS]]) + " |",
        "|" + "---|" * (len(CALLERS) + 2),
    ]
    for (method, name), statuses in MATRIX.items():
        access = ACCESS[(method, name)]
        access_cell = f"`{access}`" if access in SCOPES else access
        cells = [f"`{method} {routes[(method, name)]}`", access_cell, *map(str, statuses)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


# --- Cross-member: A's token, B's identifiers ----------------------------------------------------


def smuggled_params(world: World) -> list[dict]:
    """Every query parameter a client could use to point at member B."""
    b = world.b
    b_entries = list(LedgerEntry.objects.filter(member=b).values_list("pk", flat=True))
    b_codes = [c.code for c in world.b_coupons]
    return [
        {"member": b.pk},
        {"member_id": b.pk},
        {"member_number": b.member_number},
        {"member__member_number": b.member_number},
        {"id": b.pk},
        {"pk": b.pk},
        {"user": b.user_id},
        {"user_id": b.user_id},
        {"login": b.member_number},
        {"email": b.email},
        {"id": b_entries[0]},
        {"entry": b_entries[0]},
        {"ids": ",".join(map(str, b_entries))},
        {"id__in": ",".join(map(str, b_entries))},
        {"code": b_codes[0]},
        {"coupon": b_codes[0]},
        {"token": world.tokens["b"]},
        {"member_number": b.member_number, "page_size": 200},
        {"member": b.pk, "page": 1, "page_size": 1000},
    ]


SMUGGLED_HEADERS = ["HTTP_X_MEMBER_NUMBER", "HTTP_X_MEMBER_ID", "HTTP_X_MEMBER", "HTTP_X_USER_ID"]


def a_ledger_ids(world) -> set[int]:
    return set(LedgerEntry.objects.filter(member=world.a).values_list("pk", flat=True))


def assert_only_a(world: World, name: str, data: dict | list) -> None:
    """`data` (a /me response) is exactly A's, and none of B's."""
    a = world.fresh(world.a)
    if name in ("me", "me-card"):
        assert data["member_number"] == a.member_number
        assert world.b.member_number not in str(data)
        if name == "me":
            assert (data["email"], data["phone"], data["name"]) == (a.email, a.phone, a.name)
    elif name == "me-points":
        assert (data["available"], data["pending"], data["owed"], data["lifetime"]) == (
            a.points_available,
            a.points_pending,
            a.points_debt,
            a.points_lifetime,
        )
    elif name == "me-ledger":
        assert data["count"] == len(a_ledger_ids(world))
        assert {row["id"] for row in data["results"]} == a_ledger_ids(world)
    elif name == "me-coupons":
        assert data["count"] == len(world.a_coupons)
        assert {row["code"].replace("-", "") for row in data["results"]} == {
            c.code for c in world.a_coupons
        }
        assert {row["member_number"] for row in data["results"]} == {a.member_number}
    elif name == "me-challenges":
        # B has answered the survey and opened the app (times_this_period 1 each); A has not.
        assert [(c["code"], c["times_this_period"]) for c in data] == [
            ("survey", 0),
            ("app", 0),
        ]
    elif name in ("me-surveys", "me-survey"):
        # B has answered S1; A has not.
        surveys = data if name == "me-surveys" else [data]
        assert [(s["code"], s["answered"], s["times_answered"]) for s in surveys] == [
            ("S1", False, 0)
        ]
    else:  # pragma: no cover - a new /me read: teach this function what A's data is
        raise AssertionError(f"no A-only check for {name}")


def timeless(data: dict | list) -> dict | list:
    """A /me answer without the fields that move with the clock between two calls."""
    if isinstance(data, list):
        return data
    return {k: v for k, v in data.items() if k != "expiring_soon_until"}


ME_READS = [
    "me",
    "me-points",
    "me-ledger",
    "me-coupons",
    "me-card",
    "me-challenges",
    "me-surveys",
    "me-survey",
]
# Member-token writes, each with its own cross-member test below.
ME_WRITES = {
    ("PATCH", "me"),
    ("POST", "auth-logout"),
    ("POST", "me-events"),
    ("POST", "me-password"),
    ("POST", "me-survey-answers"),
}


def test_cross_member_tests_cover_every_member_endpoint():
    member_endpoints = {e for e, access in ACCESS.items() if access == "member token"}
    assert member_endpoints == {("GET", n) for n in ME_READS} | ME_WRITES


def test_world_tells_a_and_b_apart(world):
    """The cross-member checks only mean something if A's and B's data differ everywhere."""
    a, b = world.a, world.b
    assert a.member_number != b.member_number
    assert (a.points_available, a.points_lifetime) != (b.points_available, b.points_lifetime)
    assert len(a_ledger_ids(world)) != LedgerEntry.objects.filter(member=b).count()
    assert len(world.a_coupons) != len(world.b_coupons)
    assert (Event.objects.filter(member=a).count(), Event.objects.filter(member=b).count()) == (
        0,
        3,
    )
    assert [r.member_id for r in SurveyResponse.objects.all()] == [b.pk]
    assert sorted(
        LimitCounter.objects.filter(member=b).values_list("challenge__code", "count")
    ) == [("app", 1), ("survey", 1)]
    assert not LimitCounter.objects.filter(member=a).exists()
    # The survey challenge paid B's real answer (source "surveys"), not the POS event.
    assert sorted(
        Award.objects.filter(member=b).values_list(
            "version__challenge__code", "event__source_key", "points"
        )
    ) == [("app", f"member:{b.pk}", 5), ("survey", "surveys", 30)]
    assert not Award.objects.filter(member=a).exists()


@pytest.mark.parametrize("name", ME_READS)
def test_me_reads_show_only_the_callers_data_whatever_ids_are_sent(world, name):
    client = bearer(world.tokens["member"])
    url = reverse(f"api:{name}", kwargs=ENDPOINTS[("GET", name)].call(world).kwargs)
    before, b_before = snapshot(), rows_of(world.b)
    clean = client.get(url)
    assert clean.status_code == 200
    assert_only_a(world, name, clean.json())
    for params in smuggled_params(world):
        response = client.get(url, params)
        assert response.status_code == 200, (params, response.content)
        assert timeless(response.json()) == timeless(clean.json()), params
    for header in SMUGGLED_HEADERS:
        response = client.get(url, **{header: world.b.member_number})
        assert timeless(response.json()) == timeless(clean.json()), header
    assert snapshot() == before
    assert rows_of(world.b) == b_before


def test_me_ledger_pages_and_filters_never_reach_other_members(world):
    client = bearer(world.tokens["member"])
    mine = a_ledger_ids(world)
    seen, page = [], 1
    while True:
        response = client.get("/api/v1/me/ledger", {"page_size": 1, "page": page})
        if response.status_code == 404:
            break
        assert response.json()["count"] == len(mine)
        seen += [row["id"] for row in response.json()["results"]]
        page += 1
    assert (len(seen), set(seen)) == (len(mine), mine)
    # B's purchase was at store Y: filtering by it finds none of A's entries and none of B's.
    for store, expected in ((world.other_store.code, 0), (world.store.code, 1)):
        response = client.get("/api/v1/me/ledger", {"store": store, "page_size": 200}).json()
        assert response["count"] == expected
        assert {row["id"] for row in response["results"]} <= mine
    for kind in ("earn", "spend"):
        response = client.get("/api/v1/me/ledger", {"kind": kind, "page_size": 200}).json()
        ids = {row["id"] for row in response["results"]}
        assert ids == set(
            LedgerEntry.objects.filter(member=world.a, kind=kind).values_list("pk", flat=True)
        )


def test_me_coupons_filters_never_reach_other_members(world):
    client = bearer(world.tokens["member"])
    for status_ in ("issued", "used", "voided"):
        data = client.get("/api/v1/me/coupons", {"status": status_, "page_size": 1}).json()
        assert data["count"] == Coupon.objects.filter(member=world.a, status=status_).count()


def test_other_members_rows_are_not_routes_under_me(world):
    client = bearer(world.tokens["member"])
    b_entry = LedgerEntry.objects.filter(member=world.b).first()
    for path in (
        f"/api/v1/me/{world.b.member_number}",
        f"/api/v1/me/ledger/{b_entry.pk}",
        f"/api/v1/me/coupons/{world.b_coupons[0].code}",
        f"/api/v1/me/{world.b.pk}/points",
    ):
        response = client.get(path)
        assert response.status_code == 404, path
        assert world.b.member_number not in response.content.decode(), path
    # The integration routes that take a member number are closed to member tokens.
    for method, path, body in (
        ("get", f"/api/v1/members/{world.b.member_number}", None),
        ("patch", f"/api/v1/members/{world.b.member_number}", {"name": "x"}),
        ("post", f"/api/v1/members/{world.b.member_number}/withdraw", None),
        (
            "post",
            "/api/v1/points/adjustments",
            {"member_number": world.a.member_number, "points": 1, "reason": "x"},
        ),
    ):
        before = snapshot()
        response = getattr(client, method)(path, body, format="json", HTTP_IDEMPOTENCY_KEY="k")
        assert response.status_code == 403, path
        assert snapshot() == before


def test_me_patch_changes_only_the_caller_whatever_ids_the_body_names(world):
    b = world.b
    client = bearer(world.tokens["member"])
    b_before = rows_of(b)
    body = {
        "name": "A again",
        "email": "a-new@example.com",
        "member_number": b.member_number,
        "id": b.pk,
        "pk": b.pk,
        "member": b.pk,
        "member_id": b.pk,
        "user": b.user_id,
        "status": "withdrawn",
        "tier": "gold",
        "points": {"available": 10**6},
        "points_available": 10**6,
    }
    response = client.patch(
        f"/api/v1/me?member_number={b.member_number}&id={b.pk}", body, format="json"
    )
    assert response.status_code == 200
    data = response.json()
    assert (data["member_number"], data["name"], data["email"], data["status"]) == (
        world.a.member_number,
        "A again",
        "a-new@example.com",
        "active",
    )
    a = world.fresh(world.a)
    assert (a.member_number, a.name, a.email, a.status, a.points_available, a.user_id) == (
        world.a.member_number,
        "A again",
        "a-new@example.com",
        Member.Status.ACTIVE,
        world.a.points_available,
        world.a.user_id,
    )
    assert rows_of(b) == b_before
    # Taking B's e-mail is refused and B keeps it.
    taken = client.patch("/api/v1/me", {"email": b.email}, format="json")
    assert (taken.status_code, list(taken.json()["error"]["fields"])) == (409, ["email"])
    assert rows_of(b) == b_before


def test_logout_ends_only_the_callers_token_whatever_the_body_names(world):
    b_before = rows_of(world.b)
    response = bearer(world.tokens["member"]).post(
        f"/api/v1/auth/logout?member_number={world.b.member_number}",
        {"token": world.tokens["b"], "member_number": world.b.member_number, "all": True},
        format="json",
    )
    assert response.status_code == 204
    assert bearer(world.tokens["member"]).get("/api/v1/me").status_code == 401
    assert bearer(world.tokens["b"]).get("/api/v1/me").json()["member_number"] == (
        world.b.member_number
    )
    assert rows_of(world.b) == b_before


def test_store_bound_keys_read_and_change_members_of_any_store(world):
    """Documented behaviour (the "other store" column): a member belongs to the programme, not
    to a store, so a key bound to store X with members:read reads a member whose home store is
    Y, in full. Store binding limits only requests that name a store."""
    key = new_key(["members:read"], store=world.store)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    assert world.b.home_store_id == world.other_store.pk
    response = client.get(f"/api/v1/members/{world.b.member_number}")
    assert response.status_code == 200
    data = response.json()
    assert (data["member_number"], data["home_store"], data["email"], data["phone"]) == (
        world.b.member_number,
        world.other_store.code,
        world.b.email,
        world.b.phone,
    )


def test_store_bound_key_must_name_its_store(world):
    """A store-bound key with no store in the request is refused, not treated as unbound."""
    client = APIClient()
    client.credentials(
        HTTP_AUTHORIZATION=f"Api-Key {new_key(['events:write', 'coupons:redeem'], world.store)}"
    )
    before = snapshot()
    body = ENDPOINTS[("POST", "purchases")].call(world).body
    assert (
        client.post("/api/v1/purchases", {**body, "store_code": ""}, format="json").status_code
        == 403
    )
    redeem = {"code": world.a_coupons[0].code, "order_id": "ORD-R"}
    assert client.post("/api/v1/coupons/redeem", redeem, format="json").status_code == 403
    assert snapshot() == before


def test_me_events_are_always_the_callers_whatever_the_body_names(world):
    a, b = world.a, world.b
    client = bearer(world.tokens["member"])
    b_before = rows_of(b)
    # Same client_id as B's own app event: client ids are per sender, so this is A's new
    # event, not a replay of B's (which would show B's event to A).
    body = app_event("APP-1", member_number=b.member_number, member=b.pk, member_id=b.pk)
    response = client.post(
        f"/api/v1/me/events?member_number={b.member_number}", body, format="json"
    )
    assert response.status_code == 201, response.content
    assert (response.json()["member_number"], response.json()["client_id"]) == (
        a.member_number,
        "APP-1",
    )
    assert "Idempotent-Replay" not in response
    assert Event.objects.get(source_key=f"member:{a.pk}", client_id="APP-1").member_id == a.pk
    # Its effect, once processed, is A's: A's limit counter and award, not B's.
    assert events_process_pending(batch_size=50) == 1
    assert list(LimitCounter.objects.filter(member=a).values_list("challenge__code", "count")) == [
        ("app", 1)
    ]
    assert list(
        Award.objects.filter(member=a).values_list("version__challenge__code", "points")
    ) == [("app", 5)]
    assert rows_of(b) == b_before


def test_members_cannot_send_survey_answered_events(world):
    """A member's own survey_answered event would claim the survey challenge's points without
    answering anything: refused naming the field, nothing stored. Members answer the survey
    (POST /me/surveys/S1/answers), which emits the event; an integration key may send it."""
    client = bearer(world.tokens["member"])
    before = snapshot()
    response = client.post("/api/v1/me/events", survey_event("APP-S"), format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"
    assert response.json()["error"]["fields"] == {"type": ["Members can't send this event type."]}
    assert not Event.objects.filter(client_id="APP-S").exists()
    assert snapshot() == before
    # The same event from an integration key with events:write is accepted.
    pos = key_client("events:write")
    accepted = pos.post(
        "/api/v1/events", survey_event("APP-S", world.a, store_code=world.store.code), format="json"
    )
    assert accepted.status_code == 201, accepted.content
    assert Event.objects.get(client_id="APP-S").type.code == "survey_answered"


def test_survey_answers_are_always_the_callers_whatever_the_body_names(world):
    """B answered S1. A's answer naming B anywhere is A's own, and B's answer does not make
    A's a repeat (the once-only check is per member)."""
    a, b = world.a, world.b
    client = bearer(world.tokens["member"])
    b_before = rows_of(b)
    body = survey_answers(world, member_number=b.member_number, member=b.pk, member_id=b.pk)
    response = client.post(
        f"/api/v1/me/surveys/S1/answers?member_number={b.member_number}&member={b.pk}",
        body,
        format="json",
        HTTP_X_MEMBER_NUMBER=b.member_number,
    )
    assert response.status_code == 201, response.content
    mine = SurveyResponse.objects.get(pk=response.json()["id"])
    assert mine.member_id == a.pk
    assert Event.objects.get(source_key="surveys", client_id=f"survey:{mine.pk}").member_id == (
        a.pk
    )
    # A's second answer is refused as A's repeat; B's rows never change.
    again = client.post("/api/v1/me/surveys/S1/answers", body, format="json")
    assert (again.status_code, again.json()["error"]["code"]) == (409, "survey_already_answered")
    assert sorted(SurveyResponse.objects.values_list("member_id", flat=True)) == sorted(
        [a.pk, b.pk]
    )
    assert rows_of(b) == b_before


def test_password_change_touches_only_the_callers_login(world):
    a, b = world.a, world.b
    client = bearer(world.tokens["member"])
    b_before = rows_of(b)
    before = snapshot()
    smuggled = {"member_number": b.member_number, "login": b.member_number, "user": b.user_id}
    # B's current password is not A's: refused, nothing changes.
    wrong = client.post(
        "/api/v1/me/password",
        {"current_password": B_PASSWORD, "new_password": NEW_PASSWORD, **smuggled},
        format="json",
    )
    assert (wrong.status_code, wrong.json()["error"]["code"]) == (400, "wrong_password")
    assert snapshot() == before
    response = client.post(
        f"/api/v1/me/password?member_number={b.member_number}",
        {"current_password": PASSWORD, "new_password": NEW_PASSWORD, **smuggled},
        format="json",
    )
    assert response.status_code == 204
    assert get_user_model().objects.get(pk=a.user_id).check_password(NEW_PASSWORD)
    assert rows_of(b) == b_before
    assert login(b, B_PASSWORD).startswith("mt_")  # B's password and tokens are untouched
    assert bearer(world.tokens["b"]).get("/api/v1/me").json()["member_number"] == b.member_number


def key_client(*scopes, store=None) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {new_key(scopes, store)}")
    return client


def test_events_are_read_only_by_the_key_that_sent_them(world):
    """World: B's POS key sent EV-1 about B. Another key with events:read can't see it, even
    naming its sender; the same client id from another key is that key's own event."""
    other = key_client("events:read", "events:write")
    b_pos = Event.objects.get(client_id="EV-1").source_key
    for params in ({}, {"source_key": b_pos}, {"source": b_pos}, {"key": b_pos.split(":")[1]}):
        response = other.get("/api/v1/events/EV-1", params)
        assert (response.status_code, response.json()["error"]["code"]) == (404, "not_found")
    created = other.post(
        "/api/v1/events", survey_event("EV-1", world.a, store_code=world.store.code), format="json"
    )
    assert created.status_code == 201
    assert "Idempotent-Replay" not in created
    mine = other.get("/api/v1/events/EV-1").json()
    assert mine["member_number"] == world.a.member_number
    assert Event.objects.get(source_key=b_pos, client_id="EV-1").member_id == world.b.pk


@pytest.mark.parametrize(
    ("path", "first", "second"),
    [
        ("/api/v1/members", {"email": "k1@example.com"}, {"email": "k2@example.com"}),
        (
            "/api/v1/points/adjustments",
            {"member_number": "B", "points": 7, "reason": "k1"},
            {"member_number": "A", "points": 9, "reason": "k2"},
        ),
    ],
)
def test_idempotency_keys_are_per_caller(world, path, first, second):
    """Another key reusing an Idempotency-Key gets its own answer: never a replay of (and so
    never a look at) the first caller's stored response, nor a conflict with it."""
    numbers = {"A": world.a.member_number, "B": world.b.member_number}

    def body(data):
        return {k: numbers.get(v, v) if k == "member_number" else v for k, v in data.items()}

    scopes = ["members:write", "points:adjust"]
    one, two = key_client(*scopes), key_client(*scopes)
    r1 = one.post(path, body(first), format="json", HTTP_IDEMPOTENCY_KEY="same")
    r2 = two.post(path, body(second), format="json", HTTP_IDEMPOTENCY_KEY="same")
    assert (r1.status_code, r2.status_code) == (201, 201), r2.content
    assert "Idempotent-Replay" not in r2
    assert r2.json() != r1.json()
    if "member_number" in second:
        assert r2.json()["member_number"] == world.a.member_number
    else:
        assert r2.json()["email"] == "k2@example.com"


def test_a_suspended_members_token_is_refused(world):
    """The withdrawn column's rule holds for every inactive status."""
    Member.objects.filter(pk=world.a.pk).update(status=Member.Status.SUSPENDED)
    response = bearer(world.tokens["member"]).get("/api/v1/me")
    assert (response.status_code, response.json()["error"]["code"]) == (
        401,
        "authentication_failed",
    )


@pytest.mark.parametrize("change", ["login deactivated", "login unlinked"])
def test_member_tokens_end_with_the_app_login(world, change):
    """Login refuses these members; a token issued before must stop working too."""
    user = get_user_model().objects.get(pk=world.a.user_id)
    if change == "login deactivated":
        user.is_active = False
        user.save(update_fields=["is_active"])
    else:
        Member.objects.filter(pk=world.a.pk).update(user=None)
    with pytest.raises(LoginFailed):
        login(world.a)
    assert bearer(world.tokens["member"]).get("/api/v1/me").status_code == 401
