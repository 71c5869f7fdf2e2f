"""Edge inputs answer in the one error format with a 4xx, never a 500 (found with schemathesis
and by probing its kind of input: huge numbers, far dates, odd offsets, NUL bytes)."""

import pytest
from rest_framework.test import APIClient

from loyalty.ledger import points_earn
from loyalty.models import IdempotencyRecord, LedgerEntry
from loyalty.models.ledger import EntrySource
from members.api_keys import api_key_create
from members.member_tokens import member_token_login
from members.passwords import member_login_create
from tests.members.factories import MemberFactory

pytestmark = pytest.mark.django_db

PASSWORD = "kumo-no-ue-2026"


def member_app():
    member = MemberFactory()
    member_login_create(member=member, password=PASSWORD)
    _token, raw = member_token_login(login=member.member_number, password=PASSWORD)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client, member


@pytest.mark.parametrize("debug", [False, True])  # make demo serves with DEBUG on
def test_unknown_api_address_is_a_404_in_the_error_format(settings, debug):
    settings.DEBUG = debug
    response = APIClient().get("/api/v1/no-such-thing")
    assert (response.status_code, response["Content-Type"]) == (404, "application/json")
    assert response.json() == {
        "error": {"code": "not_found", "message": "Not found.", "fields": {}}
    }
    assert APIClient().get("/no-such-page")["Content-Type"].startswith("text/html")
    # Any method, with no CSRF token (a browser's session is no API caller).
    posted = APIClient(enforce_csrf_checks=True).post("/api/v1/no-such-thing", {})
    assert (posted.status_code, posted.json()["error"]["code"]) == (404, "not_found")


def test_a_control_character_in_an_address_is_a_404():
    # PostgreSQL text can't hold NUL: looking one up was a database error (500).
    _key, raw = api_key_create(name="k", scopes=["events:read", "members:read"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")
    for url in ("/api/v1/events/a%00b", "/api/v1/events/%00", "/api/v1/members/%00"):
        response = client.get(url)
        assert (response.status_code, response.json()["error"]["code"]) == (404, "not_found")
    assert client.get("/api/v1/events/no-such-event").status_code == 404  # the route itself


def test_an_unhandled_error_is_a_500_in_the_error_format(monkeypatch):
    def boom(self, request):
        raise RuntimeError("bug")

    monkeypatch.setattr("loyalty.api.health.HealthView.get", boom)
    response = APIClient(raise_request_exception=False).get("/api/v1/health")
    assert (response.status_code, response.json()) == (
        500,
        {"error": {"code": "server_error", "message": "A server error occurred.", "fields": {}}},
    )


def test_failed_login_says_how_to_authenticate():
    response = APIClient().post(
        "/api/v1/auth/token", {"login": "4111111111111111", "password": "x"}, format="json"
    )
    assert (response.status_code, response["WWW-Authenticate"]) == (
        401,
        'Api-Key realm="api", Bearer realm="api"',
    )


@pytest.mark.parametrize(
    "authorization",
    ["Bearer mt_\x00_secret", "Api-Key lk_\x00_secret", "Api-Key lk_" + "a" * 300 + "_secret"],
)
def test_malformed_credentials_are_a_401(authorization):
    response = APIClient().get("/api/v1/me", HTTP_AUTHORIZATION=authorization)
    assert (response.status_code, response.json()["error"]["code"]) == (
        401,
        "authentication_failed",
    )


def test_idempotency_key_must_be_printable():
    _key, raw = api_key_create(name="POS", scopes=["points:adjust"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")
    member = MemberFactory()
    response = client.post(
        "/api/v1/points/adjustments",
        {"member_number": member.member_number, "points": 5, "reason": "x"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="key\x00one",
    )
    assert (response.status_code, list(response.json()["error"]["fields"])) == (
        400,
        ["Idempotency-Key"],
    )
    assert (IdempotencyRecord.objects.count(), LedgerEntry.objects.count()) == (0, 0)


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ({"page_size": "ten"}, "page_size", "Enter a positive integer."),
        ({"page_size": "0"}, "page_size", "Enter a positive integer."),
        ({"page": "last"}, "page", "Enter a positive integer."),
        ({"page": ""}, "page", "Enter a positive integer."),
        (
            {"occurred_after": "9999-12-31T23:59:59-12:00"},
            "occurred_after",
            "Date and time out of range.",
        ),
        (
            {"occurred_before": "0001-01-01T00:00:00+09:00"},
            "occurred_before",
            "Date and time out of range.",
        ),
    ],
)
def test_bad_list_parameters_are_a_400_naming_them(query, field, message):
    client, _member = member_app()
    response = client.get("/api/v1/me/ledger", query)
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {field: [message]}


def test_list_filters_take_any_offset_and_ignore_an_empty_value():
    client, member = member_app()
    points_earn(member=member, points=10, source=EntrySource.API)
    # +20:58 is a valid ISO 8601 offset that PostgreSQL would refuse as is.
    after = client.get("/api/v1/me/ledger", {"occurred_after": "2000-01-01T20:58:00+20:58"})
    empty = client.get("/api/v1/me/ledger", {"kind": "", "occurred_before": ""})
    assert (after.status_code, after.json()["count"]) == (200, 1)
    assert (empty.status_code, empty.json()["count"]) == (200, 1)


@pytest.mark.parametrize(
    ("url", "scope", "body", "field"),
    [
        ("/api/v1/coupons/issue", "coupons:issue", {"template": "welcome\x00500"}, "template"),
        ("/api/v1/coupons/issue", "coupons:issue", {"template": 500}, "template"),
        ("/api/v1/members", "members:write", {"home_store": "TYO\x0001"}, "home_store"),
        ("/api/v1/members", "members:write", {"home_store": ""}, "home_store"),
        # An unknown code is named in the reader's words, not DRF's "Object with code=NOPE
        # does not exist.".
        (
            "/api/v1/coupons/issue",
            "coupons:issue",
            {"template": "no-such"},
            ("template", "No coupon template has this code."),
        ),
        (
            "/api/v1/members",
            "members:write",
            {"home_store": "NOPE"},
            ("home_store", "No store has this code."),
        ),
    ],
)
def test_references_by_code_must_be_plain_known_strings(url, scope, body, field):
    field, message = field if isinstance(field, tuple) else (field, "Invalid value.")
    _key, raw = api_key_create(name="POS", scopes=[scope])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")
    member = MemberFactory()
    response = client.post(
        url,
        {"member_number": member.member_number, **body},
        format="json",
        HTTP_IDEMPOTENCY_KEY="ref-1",
    )
    assert (response.status_code, response.json()["error"]["fields"]) == (
        400,
        {field: [message]},
    )
    assert IdempotencyRecord.objects.count() == 0


def test_a_nested_objects_own_error_is_named_by_its_path():
    # `lines` must be a list: the error is the field's, not `lines.non_field_errors`.
    _key, raw = api_key_create(name="POS", scopes=["events:write"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")
    member = MemberFactory()
    body = {
        "order_id": "O-1",
        "member_number": member.member_number,
        "occurred_at": "2026-06-05T10:00:00+09:00",
        "total": 100,
        "lines": {"sku": "A", "quantity": 1, "unit_price": 100},
    }
    response = client.post("/api/v1/purchases", body, format="json")
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["lines"]
    assert LedgerEntry.objects.count() == 0
