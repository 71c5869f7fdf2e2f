"""Idempotent writes: a retried request with the same key gets the original response."""

import hashlib
import json
from collections.abc import Callable

from django.db import IntegrityError, transaction
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext as _
from rest_framework.request import Request
from rest_framework.response import Response

from loyalty.errors import IdempotencyConflict, LoyaltyError
from loyalty.models import IdempotencyRecord

HEADER = "Idempotency-Key"
REPLAY = {"Idempotent-Replay": "true"}


def replay_headers(first_time: bool) -> dict:
    """Headers of an answer: a replayed one says so."""
    return {} if first_time else REPLAY


# Body fields whose values must not be recoverable from a stored request hash: a bare SHA-256
# of a body with a password in it would be a fast oracle for guessing that password.
SECRET_FIELDS = frozenset({"password"})


def _request_hash(request: Request) -> str:
    data = request.data
    if isinstance(data, dict):
        data = {
            key: salted_hmac("loyalty.idempotency", str(value)).hexdigest()
            if key in SECRET_FIELDS
            else value
            for key, value in data.items()
        }
    canonical = json.dumps([request.method, request.path, data], sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _replay(record: IdempotencyRecord, request_hash: str) -> Response:
    if record.request_hash != request_hash:
        raise IdempotencyConflict(field=HEADER)
    return Response(record.response, status=record.status_code, headers=REPLAY)


def idempotency_reference(request: Request) -> str:
    """A ledger reference naming this caller's Idempotency-Key (a backstop beside the
    idempotency record): `api:` and 60 hex digits of a digest of both, so two callers, or
    two long keys sharing a prefix, never name the same write."""
    key = request.headers.get(HEADER, "").strip()
    digest = hashlib.sha256(f"{request.user.pk}\n{key}".encode()).hexdigest()
    return f"api:{digest[:60]}"


def idempotent(
    request: Request, handler: Callable[[], Response], *, key: str | None = None
) -> Response:
    """Run `handler` once per (caller, key), in one transaction with the record of its answer.

    `key` defaults to the Idempotency-Key header, which is then required. Two concurrent
    requests with one key: the second's insert of the record fails, its work is rolled back
    and it answers with the first one's response.
    """
    key = key if key is not None else request.headers.get(HEADER, "").strip()
    # Printable only: a control character (NUL) would reach the database (PostgreSQL: a 500).
    if not key or len(key) > 255 or not key.isprintable():
        raise LoyaltyError(
            _("An Idempotency-Key header (1-255 printable characters) is required."), field=HEADER
        )
    owner = str(request.user.pk)
    request_hash = _request_hash(request)
    existing = IdempotencyRecord.objects.filter(owner=owner, key=key).first()
    if existing is not None:
        return _replay(existing, request_hash)
    try:
        with transaction.atomic():
            response = handler()
            IdempotencyRecord.objects.create(
                owner=owner,
                key=key,
                request_hash=request_hash,
                status_code=response.status_code,
                response=response.data,
            )
    except (IntegrityError, LoyaltyError):
        # A concurrent twin may have won: its answer (now committed) is ours too. Its work can
        # also make ours fail first (e.g. "email taken" by the member it just registered).
        existing = IdempotencyRecord.objects.filter(owner=owner, key=key).first()
        if existing is None:
            raise
        return _replay(existing, request_hash)
    return response
