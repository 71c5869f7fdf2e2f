"""The member app password over the API: set at registration, changed by the member."""

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from loyalty.models import IdempotencyRecord
from members.api_keys import api_key_create
from members.models import Member, MemberToken
from members.passwords import member_login_create
from tests.members.factories import MemberFactory

pytestmark = pytest.mark.django_db

PASSWORD = "kumo-no-ue-2026"
NEW_PASSWORD = "sora-iro-2027"


def integration():
    _key, raw = api_key_create(name="App backend", scopes=["members:write"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")
    return client


def register(body, key="reg-1", client=None):
    client = client or integration()
    return client.post("/api/v1/members", body, format="json", HTTP_IDEMPOTENCY_KEY=key)


def login(login, password):
    return APIClient().post(
        "/api/v1/auth/token", {"login": login, "password": password}, format="json"
    )


def app(token):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def member_with_login(**kw):
    member = MemberFactory(**kw)
    member_login_create(member=member, password=PASSWORD)
    return member


def test_register_with_a_password_creates_the_app_login():
    response = register(
        {"name": "Yamada Hanako", "email": "hanako@example.com", **{"password": PASSWORD}}
    )

    assert response.status_code == 201
    body = response.json()
    assert "password" not in body
    member = Member.objects.select_related("user").get()
    assert (member.user.username, member.user.email, member.user.is_staff) == (
        body["member_number"],
        "hanako@example.com",
        False,
    )
    assert member.user.check_password(PASSWORD)
    by_number = login(body["member_number"], PASSWORD)
    by_email = login("hanako@example.com", PASSWORD)
    assert (by_number.status_code, by_email.status_code) == (201, 201)


def test_register_without_a_password_has_no_login():
    response = register({"email": "taro@example.com"})
    assert response.status_code == 201
    assert Member.objects.get().user is None
    assert login("taro@example.com", "").status_code == 400  # blank password: invalid input
    assert login("taro@example.com", "anything-at-all").status_code == 401


@pytest.mark.parametrize(
    ("password", "messages"),
    [
        (
            "1234",
            [
                "This password is too short. It must contain at least 8 characters.",
                "This password is too common.",
                "This password is entirely numeric.",
            ],
        ),
        ("hanako-example", ["The password is too similar to the email address."]),
        ("password", ["This password is too common."]),
    ],
)
def test_weak_password_is_a_400_naming_password_and_creates_nothing(password, messages):
    response = register({"email": "hanako-example@example.com", "password": password})

    assert response.status_code == 400
    assert response.json() == {
        "error": {"code": "weak_password", "message": messages[0], "fields": {"password": messages}}
    }
    assert (Member.objects.count(), get_user_model().objects.count()) == (0, 0)
    assert IdempotencyRecord.objects.count() == 0


def test_password_must_be_a_string():
    response = register({"email": "a@example.com", "password": 12345678})
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"password": ["Not a valid string."]}
    assert Member.objects.count() == 0


def test_registration_retry_replays_only_with_the_same_password():
    body = {"email": "hanako@example.com", "password": PASSWORD}
    client = integration()
    first = register(body, client=client)
    again = register(body, client=client)
    other = register({**body, "password": NEW_PASSWORD}, client=client)

    assert (first.status_code, again.status_code, again["Idempotent-Replay"]) == (201, 201, "true")
    assert again.json() == first.json()
    assert (other.status_code, other.json()["error"]["code"]) == (409, "idempotency_conflict")
    assert (Member.objects.count(), get_user_model().objects.count()) == (1, 1)
    # The stored hash of the request is not a bare hash of a body holding the password.
    assert PASSWORD not in IdempotencyRecord.objects.get().request_hash


def test_change_password_keeps_this_session_and_ends_the_others():
    member = member_with_login()
    current = login(member.member_number, PASSWORD).json()["token"]
    other = login(member.member_number, PASSWORD).json()["token"]

    response = app(current).post(
        "/api/v1/me/password",
        {"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        format="json",
    )

    assert (response.status_code, response.content) == (204, b"")
    assert app(current).get("/api/v1/me").status_code == 200
    assert app(other).get("/api/v1/me").status_code == 401
    assert MemberToken.objects.filter(member=member, revoked_at__isnull=True).count() == 1
    assert login(member.member_number, PASSWORD).status_code == 401
    assert login(member.member_number, NEW_PASSWORD).status_code == 201


@pytest.mark.parametrize(
    ("body", "code", "fields"),
    [
        (
            {"current_password": "not-my-password", "new_password": NEW_PASSWORD},
            "wrong_password",
            {"current_password": ["The current password is wrong."]},
        ),
        (
            # The same again: nothing would change but the other devices' logout.
            {"current_password": PASSWORD, "new_password": PASSWORD},
            "weak_password",
            {"new_password": ["Choose a password different from the current one."]},
        ),
        (
            {"current_password": PASSWORD, "new_password": "qwerty"},
            "weak_password",
            {
                "new_password": [
                    "This password is too short. It must contain at least 8 characters.",
                    "This password is too common.",
                ]
            },
        ),
        (
            {},
            "invalid",
            {
                "current_password": ["This field is required."],
                "new_password": ["This field is required."],
            },
        ),
    ],
)
def test_change_password_errors_change_nothing(body, code, fields):
    member = member_with_login()
    current = login(member.member_number, PASSWORD).json()["token"]
    other = login(member.member_number, PASSWORD).json()["token"]

    response = app(current).post("/api/v1/me/password", body, format="json")

    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], error["fields"]) == (code, fields)
    member.user.refresh_from_db()
    assert member.user.check_password(PASSWORD)
    assert app(other).get("/api/v1/me").status_code == 200
    assert MemberToken.objects.filter(member=member, revoked_at__isnull=True).count() == 2


def test_change_password_needs_a_member_token():
    member_with_login()
    body = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    anonymous = APIClient().post("/api/v1/me/password", body, format="json")
    _key, raw = api_key_create(name="POS", scopes=["members:write"])
    keyed = APIClient()
    keyed.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")
    with_key = keyed.post("/api/v1/me/password", body, format="json")
    assert (anonymous.status_code, anonymous.json()["error"]["code"]) == (401, "not_authenticated")
    assert (with_key.status_code, with_key.json()["error"]["code"]) == (403, "permission_denied")
