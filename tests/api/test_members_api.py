import datetime as dt

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from members.api_keys import api_key_create, api_key_revoke
from members.models import Member
from tests.members.factories import MemberFactory, StoreFactory

pytestmark = pytest.mark.django_db


def client_with(*scopes):
    key, raw = api_key_create(name="POS", scopes=list(scopes))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")
    return client, key


def register(client, body, key="reg-1"):
    return client.post("/api/v1/members", body, format="json", HTTP_IDEMPOTENCY_KEY=key)


def test_register_returns_the_member_and_a_retry_replays_it():
    client, _ = client_with("members:write")
    StoreFactory(code="TKY01")
    body = {
        "name": "Hanako",
        "email": "Hanako@Example.com",
        "phone": "090-1234-5678",
        "home_store": "TKY01",
    }

    first = register(client, body)
    again = register(client, body)

    assert first.status_code == 201
    data = first.json()
    assert (data["email"], data["phone"], data["home_store"], data["status"]) == (
        "hanako@example.com",
        "+819012345678",
        "TKY01",
        "active",
    )
    assert data["points"] == {"available": 0, "pending": 0, "owed": 0, "lifetime": 0}
    assert len(data["member_number"]) == 16
    assert (again.status_code, again.json(), again["Idempotent-Replay"]) == (201, data, "true")
    assert Member.objects.count() == 1


def test_same_key_with_another_body_is_a_conflict_and_changes_nothing():
    client, _ = client_with("members:write")
    register(client, {"email": "a@example.com"})
    response = register(client, {"email": "b@example.com"})
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "idempotency_conflict"
    assert list(response.json()["error"]["fields"]) == ["Idempotency-Key"]
    assert Member.objects.count() == 1


def test_missing_idempotency_key_is_a_400_naming_the_header():
    client, _ = client_with("members:write")
    response = client.post("/api/v1/members", {"email": "a@example.com"}, format="json")
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["Idempotency-Key"]
    assert Member.objects.count() == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "not-an-email"}, "email"),
        ({"phone": "12"}, "phone"),
        ({"home_store": "NOPE"}, "home_store"),
        ({"gender": "robot"}, "gender"),
        ({"birth_date": "1990-13-01"}, "birth_date"),
        ({"birth_date": "2999-01-01"}, "birth_date"),
        ({"birth_date": "1899-12-31"}, "birth_date"),
        ({"home_store": ""}, "home_store"),
        ({"name": 42}, "name"),
    ],
)
def test_bad_input_is_a_400_naming_the_field_and_creates_nothing(body, field):
    client, _ = client_with("members:write")
    response = register(client, body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], list(error["fields"])) == ("invalid", [field])
    assert error["message"].startswith(f"{field}: ")
    assert Member.objects.count() == 0


def test_a_birth_date_in_the_future_is_refused_with_its_reason():
    client, _ = client_with("members:write")
    tomorrow = timezone.localdate() + dt.timedelta(days=1)
    refused = register(client, {"birth_date": tomorrow.isoformat()})
    today = register(client, {"birth_date": timezone.localdate().isoformat()}, key="reg-2")
    assert refused.status_code == 400
    assert refused.json()["error"]["fields"] == {
        "birth_date": ["A birth date can't be in the future."]
    }
    assert today.status_code == 201
    assert Member.objects.count() == 1


def test_taken_email_is_a_409_naming_the_field():
    MemberFactory(email="taken@example.com")
    client, _ = client_with("members:write")
    response = register(client, {"email": "TAKEN@example.com"})
    assert response.status_code == 409
    assert response.json()["error"]["fields"] == {
        "email": ["Another member already uses this email address."]
    }


def test_authentication_and_scopes():
    member = MemberFactory()
    url = f"/api/v1/members/{member.member_number}"
    anonymous = APIClient().get(url)
    assert anonymous.status_code == 401
    assert anonymous.json()["error"]["code"] == "not_authenticated"
    wrong = APIClient()
    wrong.credentials(HTTP_AUTHORIZATION="Api-Key lk_deadbeef_nope")
    assert wrong.get(url).status_code == 401

    reader, key = client_with("members:read")
    assert reader.get(url).status_code == 200
    denied = reader.patch(url, {"name": "x"}, format="json")
    assert denied.status_code == 403
    assert denied.json()["error"]["code"] == "permission_denied"
    assert register(reader, {"email": "x@example.com"}).status_code == 403
    api_key_revoke(key=key)
    assert reader.get(url).status_code == 401


def test_unknown_member_is_a_404_in_the_error_format():
    client, _ = client_with("members:read")
    response = client.get("/api/v1/members/4111111111111111")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_patch_updates_contact_fields_and_withdraw_anonymises():
    member = MemberFactory(email="old@example.com")
    client, _ = client_with("members:write", "members:read")
    url = f"/api/v1/members/{member.member_number}"
    response = client.patch(url, {"email": "New@Example.com", "phone": ""}, format="json")
    assert (response.status_code, response.json()["email"]) == (200, "new@example.com")
    withdrawn = client.post(f"{url}/withdraw", format="json")
    assert withdrawn.status_code == 200
    assert (withdrawn.json()["status"], withdrawn.json()["email"], withdrawn.json()["name"]) == (
        "withdrawn",
        None,
        "",
    )
    # Their personal data is gone for good: it can't be set again.
    again = client.patch(url, {"name": "Back Again", "email": "wd2@example.com"}, format="json")
    assert (again.status_code, again.json()["error"]) == (
        409,
        {
            "code": "member_not_active",
            "message": "The member has withdrawn: their details can't be set again.",
            "fields": {"member": ["The member has withdrawn: their details can't be set again."]},
        },
    )
    member.refresh_from_db()
    assert (member.name, member.email, member.phone) == ("", None, None)


def test_health_reports_database_and_broker():
    response = APIClient().get("/api/v1/health")
    assert (response.status_code, response.json()) == (200, {"database": "ok", "broker": "ok"})


def test_schema_and_offline_docs_are_served():
    schema = APIClient().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert {"/api/v1/members", "/api/v1/members/{member_number}", "/api/v1/health"} <= set(paths)
    assert "ApiKey" in schema.json()["components"]["securitySchemes"]
    docs = APIClient().get("/api/docs/")
    assert docs.status_code == 200
    html = docs.content.decode()
    assert "swagger-ui" in html and "cdn.jsdelivr" not in html and "unpkg" not in html
