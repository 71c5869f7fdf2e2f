import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from members.api_keys import InvalidScope, api_key_create, api_key_revoke, api_key_verify
from members.models import ApiKey
from tests.members.factories import StoreFactory

pytestmark = pytest.mark.django_db


def test_key_is_shown_once_and_only_its_hash_is_stored():
    key, raw = api_key_create(name="POS Shibuya", scopes=["events:write", "coupons:redeem"])
    assert raw.startswith(f"lk_{key.prefix}_")
    stored = ApiKey.objects.get(pk=key.pk)
    assert raw not in (stored.hashed_key, stored.prefix)
    assert len(stored.hashed_key) == 64
    assert api_key_verify(raw).pk == key.pk
    assert stored.scopes == ["coupons:redeem", "events:write"]


def test_wrong_malformed_and_revoked_keys_do_not_verify():
    key, raw = api_key_create(name="POS", scopes=["events:write"])
    assert api_key_verify(raw[:-1] + ("A" if raw[-1] != "A" else "B")) is None
    assert api_key_verify("garbage") is None
    assert api_key_verify(f"lk_{key.prefix}") is None
    api_key_revoke(key=key)
    assert api_key_verify(raw) is None


def test_unknown_scope_is_refused_naming_it():
    with pytest.raises(InvalidScope) as exc:
        api_key_create(name="x", scopes=["events:write", "root"])
    assert exc.value.field == "scopes"
    assert "root" in str(exc.value.message)
    assert ApiKey.objects.count() == 0


def test_create_api_key_command_prints_a_working_key_for_a_store():
    store = StoreFactory(code="TKY01")
    out, err = io.StringIO(), io.StringIO()
    call_command(
        "create_api_key",
        "--name",
        "Till 1",
        "--scopes",
        "events:write,coupons:redeem",
        "--store",
        "TKY01",
        stdout=out,
        stderr=err,
    )
    key = api_key_verify(out.getvalue().strip())
    assert (key.name, key.store_id, key.scopes) == (
        "Till 1",
        store.pk,
        ["coupons:redeem", "events:write"],
    )
    with pytest.raises(CommandError, match="--scopes: Unknown scope"):
        call_command("create_api_key", "--name", "x", "--scopes", "nope", stdout=out, stderr=err)
    with pytest.raises(CommandError, match="--store"):
        call_command("create_api_key", "--name", "x", "--scopes", "kpis:read", "--store", "NOPE")


def test_admin_creates_a_key_showing_it_once_and_revokes(client, django_user_model):
    admin = django_user_model.objects.create_superuser("root", "r@example.com", "pw-12345-xyz")
    client.force_login(admin)
    response = client.post(
        "/admin/members/apikey/add/",
        {"name": "E-shop", "scopes": ["events:write", "members:write"], "store": ""},
        follow=True,
    )
    assert response.status_code == 200
    shown = [str(m) for m in response.context["messages"] if "Copy this key" in str(m)]
    assert len(shown) == 1
    raw = shown[0].rsplit(" ", 1)[-1]
    key = api_key_verify(raw)
    assert (key.name, key.scopes) == ("E-shop", ["events:write", "members:write"])
    assert client.get(f"/admin/members/apikey/{key.pk}/delete/").status_code == 403
    client.post(
        "/admin/members/apikey/",
        {"action": "revoke", "_selected_action": [key.pk]},
    )
    assert api_key_verify(raw) is None
