"""Shared helpers for challenge tests: API clients, presets switched on, processing."""

import datetime as dt

from rest_framework.test import APIClient

from challenges.presets import PRESETS
from challenges.processing import events_process_pending
from challenges.services import challenge_create
from loyalty.models import LedgerEntry
from loyalty.models.ledger import EntrySource
from members.api_keys import api_key_create
from members.member_tokens import member_token_login
from members.passwords import member_login_create

JST = dt.timezone(dt.timedelta(hours=9))
START = dt.datetime(2026, 1, 1, tzinfo=JST)
APP_PASSWORD = "kumo-no-ue-2026"


def integration(*scopes, store=None) -> APIClient:
    _key, raw = api_key_create(name="POS", scopes=list(scopes or ["events:write"]), store=store)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")
    return client


def member_app(member) -> APIClient:
    """The member app, logged in as `member` (an app login is created for it)."""
    member_login_create(member=member, password=APP_PASSWORD)
    _token, raw = member_token_login(login=member.member_number, password=APP_PASSWORD)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


def preset(key: str, *, code: str | None = None, status="active", **params):
    definition = PRESETS[key].definition(**params)
    definition["starts_at"] = START
    return challenge_create(
        code=code or key.replace("_", "-"), definition=definition, status=status
    )


def process() -> int:
    return events_process_pending(batch_size=500)


def challenge_points(member) -> list[tuple[str, int]]:
    """(challenge name, points) of the member's challenge ledger entries, oldest first."""
    return list(
        LedgerEntry.objects.filter(member=member, source=EntrySource.CHALLENGE)
        .order_by("id")
        .values_list("challenge_version__name", "points")
    )


def event(client_id, member, type_, *, when="2026-06-05T10:00:00+09:00", **extra) -> dict:
    return {
        "client_id": client_id,
        "type": type_,
        "member_number": member.member_number,
        "occurred_at": when,
        **extra,
    }
