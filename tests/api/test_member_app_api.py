import datetime as dt

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from loyalty.coupons import coupon_issue, coupon_redeem
from loyalty.ledger import points_earn, points_spend
from loyalty.models.ledger import EntrySource
from members.api_keys import api_key_create
from members.models import MemberToken
from tests.loyalty.factories import CouponTemplateFactory
from tests.members.factories import MemberFactory, UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "app-pass-123"


def member_with_login(**kw):
    return MemberFactory(user=UserFactory(password=PASSWORD), **kw)


def token_for(member, login=None):
    response = APIClient().post(
        "/api/v1/auth/token",
        {"login": login or member.member_number, "password": PASSWORD},
        format="json",
    )
    assert response.status_code == 201, response.json()
    return response.json()["token"]


def app(token):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def test_login_by_number_or_email_and_failures_look_the_same():
    member = member_with_login(email="hanako@example.com")
    assert token_for(member).startswith("mt_")
    assert token_for(member, login="Hanako@Example.com").startswith("mt_")
    # The number as printed on the card, in groups of four, with spaces or dashes.
    n = member.member_number
    for sep in (" ", "-"):
        printed = sep.join(n[i : i + 4] for i in range(0, len(n), 4))
        assert token_for(member, login=printed).startswith("mt_")
    wrong = APIClient().post(
        "/api/v1/auth/token", {"login": member.member_number, "password": "nope"}, format="json"
    )
    unknown = APIClient().post(
        "/api/v1/auth/token", {"login": "4111111111111111", "password": "nope"}, format="json"
    )
    assert (wrong.status_code, unknown.status_code) == (401, 401)
    assert wrong.json() == unknown.json()
    missing = APIClient().post("/api/v1/auth/token", {"login": "x"}, format="json")
    assert (missing.status_code, list(missing.json()["error"]["fields"])) == (400, ["password"])


def test_logout_and_expiry_end_the_token():
    member = member_with_login()
    token = token_for(member)
    assert app(token).get("/api/v1/me").status_code == 200
    assert app(token).post("/api/v1/auth/logout").status_code == 204
    assert app(token).get("/api/v1/me").status_code == 401
    other = token_for(member)
    MemberToken.objects.filter(revoked_at__isnull=True).update(
        expires_at=timezone.now() - dt.timedelta(seconds=1)
    )
    assert app(other).get("/api/v1/me").status_code == 401


def test_me_endpoints_show_only_the_callers_data():
    me, other = member_with_login(), member_with_login()
    for member, points in ((me, 100), (other, 999)):
        points_earn(member=member, points=points, source=EntrySource.API)
    points_spend(member=me, points=30, reference="ORD-ME")
    template = CouponTemplateFactory(per_member_limit=None)
    mine = coupon_issue(template=template, member=me, issued_via="api")
    used = coupon_issue(template=template, member=me, issued_via="api")
    coupon_redeem(code=used.code, order_reference="T-1")
    coupon_issue(template=template, member=other, issued_via="api")
    client = app(token_for(me))

    profile = client.get("/api/v1/me").json()
    assert profile["member_number"] == me.member_number
    points = client.get("/api/v1/me/points").json()
    assert (points["available"], points["lifetime"]) == (70, 100)
    assert [row["points"] for row in points["expiry_schedule"]] == [70]
    ledger = client.get("/api/v1/me/ledger").json()
    assert ledger["count"] == 2
    assert [row["points"] for row in ledger["results"]] == [-30, 100]  # newest first
    spends = client.get("/api/v1/me/ledger", {"kind": "spend"}).json()
    assert [row["reference"] for row in spends["results"]] == ["ORD-ME"]
    coupons = client.get("/api/v1/me/coupons").json()
    assert coupons["count"] == 2
    issued_only = client.get("/api/v1/me/coupons", {"status": "issued"}).json()
    assert [row["code"].replace("-", "") for row in issued_only["results"]] == [mine.code]
    assert issued_only["results"][0]["amount_off"] == 500
    card = client.get("/api/v1/me/card").json()
    assert card["barcode"] == {"format": "code128", "payload": me.member_number}

    # Another member's data is not reachable with this token, by any route.
    assert client.get(f"/api/v1/members/{other.member_number}").status_code == 403
    assert client.post("/api/v1/purchases", {}, format="json").status_code == 403


def test_me_update_changes_only_contact_fields_of_the_caller():
    me, other = member_with_login(email="me@example.com"), member_with_login(email="o@example.com")
    client = app(token_for(me))
    response = client.patch(
        "/api/v1/me", {"phone": "090-1111-2222", "status": "withdrawn"}, format="json"
    )
    assert (response.status_code, response.json()["phone"], response.json()["status"]) == (
        200,
        "+819011112222",
        "active",
    )
    taken = client.patch("/api/v1/me", {"email": "o@example.com"}, format="json")
    assert (taken.status_code, list(taken.json()["error"]["fields"])) == (409, ["email"])
    other.refresh_from_db()
    assert other.email == "o@example.com"


def test_integration_keys_cannot_use_member_endpoints():
    _key, raw = api_key_create(name="POS", scopes=["members:read"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")
    assert client.get("/api/v1/me").status_code == 403


def test_ledger_pagination_is_bounded_and_stable():
    me = member_with_login()
    for _ in range(5):
        points_earn(member=me, points=1, source=EntrySource.API)
    client = app(token_for(me))
    first = client.get("/api/v1/me/ledger", {"page_size": 2}).json()
    second = client.get("/api/v1/me/ledger", {"page_size": 2, "page": 2}).json()
    ids = [row["id"] for row in first["results"] + second["results"]]
    assert (first["count"], len(ids), len(set(ids))) == (5, 4, 4)
    assert ids == sorted(ids, reverse=True)
    huge = client.get("/api/v1/me/ledger", {"page_size": 100000}).json()
    assert len(huge["results"]) == 5
    beyond = client.get("/api/v1/me/ledger", {"page": 99})
    assert (beyond.status_code, beyond.json()["error"]["code"]) == (404, "not_found")


def test_throttling_per_member_and_login_answers_429(settings):
    from rest_framework.settings import api_settings

    rates = {**api_settings.DEFAULT_THROTTLE_RATES, "member": "3/min", "login": "2/min"}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}
    me = member_with_login()
    client = app(token_for(me))
    codes = [client.get("/api/v1/me").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    limited = client.get("/api/v1/me")
    assert limited.json()["error"]["code"] == "throttled"
    body = {"login": me.member_number, "password": "wrong"}
    logins = [
        APIClient().post("/api/v1/auth/token", body, format="json").status_code for _ in range(2)
    ]
    assert logins == [401, 429]  # token_for above used the first login attempt
