"""Event intake: check a batch of events, store the valid ones, report each invalid one with
its index and reason. The batch is stored with a handful of queries whatever its size.

Idempotency: (source, client_id) is unique. The same event again answers "duplicate" with the
stored event's status; the same client id with a different body answers "conflict".
Purchases and returns come in through their own endpoints, which record the purchase and then
an event of type purchase / return through `event_for_purchase` / `event_for_return` below:
one table, one processing path.
"""

import datetime as dt
import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import lru_cache, reduce

from django.conf import settings
from django.core.cache import cache, caches
from django.core.cache.backends.locmem import LocMemCache
from django.core.validators import validate_slug
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from rest_framework import serializers
from rest_framework.settings import api_settings

from loyalty.api.errors import error_fields, field_path
from loyalty.api.fields import (
    EventTimeField,
    JsonObjectField,
    StrictCharField,
    StrictFloatField,
)
from loyalty.models import Purchase, PurchaseReturn
from members.models import Member, Store

from .models import Event, EventType
from .models.events import WeatherObservation

MAX_BATCH = 1000
# Event types with their own endpoints (they record the purchase or return itself).
OWN_ENDPOINT = {"purchase": "/api/v1/purchases", "return": "/api/v1/returns"}


class WeatherSerializer(serializers.Serializer):
    condition = serializers.ChoiceField(choices=WeatherObservation.Condition.choices)
    precipitation_mm = StrictFloatField(min_value=0, max_value=2000, default=0.0)


class EventInSerializer(serializers.Serializer):
    client_id = StrictCharField(max_length=64)
    type = StrictCharField(max_length=40, validators=[validate_slug])
    member_number = StrictCharField(max_length=16)
    occurred_at = EventTimeField()
    store_code = StrictCharField(max_length=32, required=False, allow_blank=True, default="")
    payload = JsonObjectField(required=False, default=dict)
    weather = WeatherSerializer(required=False, allow_null=True, default=None)


@dataclass
class ItemResult:
    index: int
    client_id: str
    result: str  # accepted | duplicate | conflict | rejected
    status: str = ""  # the stored event's status (accepted, duplicate)
    errors: dict = field(default_factory=dict)
    event: Event | None = None


@lru_cache(maxsize=256)
def _validator(type_id: int, schema_json: str) -> Draft202012Validator:
    return Draft202012Validator(json.loads(schema_json))


def payload_problems(event_type: EventType, payload: dict) -> list[tuple[str, str]]:
    """(where, message) for each way a payload fails its type's schema: `where` is the path
    to the key (`items[0].sku`), empty for the payload as a whole."""
    schema = event_type.payload_schema or {}
    if not schema:
        return []
    # Keyed by the schema's text too, so an edited schema is never checked with the old one;
    # the text is computed once per EventType instance (once per batch).
    key = getattr(event_type, "_schema_key", None)
    if key is None:
        key = event_type._schema_key = json.dumps(schema, sort_keys=True)
    validator = _validator(event_type.pk, key)
    errors = sorted(validator.iter_errors(payload), key=lambda e: [str(p) for p in e.path])
    return [(reduce(field_path, error.path, ""), error.message) for error in errors]


def payload_errors(event_type: EventType, payload: dict) -> list[str]:
    """Messages for a payload that does not match its type's schema, each naming the key
    (for one form field)."""
    return [
        f"{where}: {message}" if where else message
        for where, message in payload_problems(event_type, payload)
    ]


def schema_check(schema: dict) -> list[str]:
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        return [exc.message]
    if schema and schema.get("type") != "object":
        return [_('A payload schema must describe an object ("type": "object").')]
    return []


def body_hash(item: dict) -> str:
    canonical = {
        "type": item["type"],
        "member_number": item["member_number"],
        "occurred_at": item["occurred_at"].astimezone(dt.UTC).isoformat(),
        "store_code": item.get("store_code") or "",
        "payload": item.get("payload") or {},
        "weather": dict(item["weather"]) if item.get("weather") else None,
    }
    raw = json.dumps(canonical, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(raw.encode()).hexdigest()


def events_ingest(
    *,
    source_key: str,
    items: list,
    store_bound: Store | None = None,
    member: Member | None = None,
    member_app: bool = False,
) -> list[ItemResult]:
    """Validate and store `items` (dicts as received). `store_bound`: the API key's store, the
    only one its events may name. `member`: set for the member app, whose events are always
    the caller's own (member_number is not taken from the body) and whose types must be
    marked member_app."""
    results: list[ItemResult | None] = [None] * len(items)
    parsed: list[tuple[int, dict]] = []
    # One serializer validates every item: building one per item (DRF deep-copies its fields
    # each time) cost more than the rest of intake together.
    checker = EventInSerializer()
    for index, raw in enumerate(items):
        if not isinstance(raw, dict):
            whole = {api_settings.NON_FIELD_ERRORS_KEY: [_("Must be an object.")]}
            results[index] = ItemResult(index, "", "rejected", errors=whole)
            continue
        if member is not None:
            raw = {**raw, "member_number": member.member_number}
        client_id = str(raw.get("client_id", ""))[:64]
        try:
            parsed.append((index, checker.run_validation(raw)))
        except serializers.ValidationError as exc:
            results[index] = ItemResult(
                index, client_id, "rejected", errors=error_fields(exc.detail)
            )

    types = {t.code: t for t in EventType.objects.filter(code__in={d["type"] for _i, d in parsed})}
    numbers = {d["member_number"] for _i, d in parsed}
    members = {
        m.member_number: m
        for m in Member.objects.filter(member_number__in=numbers).only(
            "id", "member_number", "status"
        )
    }
    codes = {d["store_code"] for _i, d in parsed if d["store_code"]}
    stores = {s.code: s for s in Store.objects.filter(code__in=codes)} if codes else {}
    existing = {
        e.client_id: e
        for e in Event.objects.filter(
            source_key=source_key, client_id__in=[d["client_id"] for _i, d in parsed]
        ).only("id", "client_id", "body_hash", "status")
    }

    to_create: list[tuple[int, Event]] = []
    seen: dict[str, tuple[int, str]] = {}
    for index, data in parsed:
        client_id = data["client_id"]
        digest = body_hash(data)
        earlier = existing.get(client_id)
        if earlier is not None or client_id in seen:
            same = (earlier.body_hash if earlier else seen[client_id][1]) == digest
            results[index] = ItemResult(
                index,
                client_id,
                "duplicate" if same else "conflict",
                status=earlier.status if earlier else Event.Status.PENDING,
                errors={} if same else {"client_id": [_("Already used for a different event.")]},
                event=earlier,
            )
            continue
        errors = _item_errors(data, types, members, stores, store_bound, member_app)
        if errors:
            results[index] = ItemResult(index, client_id, "rejected", errors=errors)
            continue
        seen[client_id] = (index, digest)
        weather = dict(data["weather"]) if data["weather"] else None
        to_create.append(
            (
                index,
                Event(
                    source_key=source_key,
                    client_id=client_id,
                    type=types[data["type"]],
                    member=members[data["member_number"]],
                    store=stores.get(data["store_code"]),
                    occurred_at=data["occurred_at"],
                    payload=data["payload"],
                    weather=weather,
                    body_hash=digest,
                ),
            )
        )

    created = _store(to_create, source_key)
    for index, event in to_create:
        stored = created[event.client_id]
        same = stored.body_hash == event.body_hash
        if stored.pk == event.pk and event.pk is not None:
            results[index] = ItemResult(
                index, event.client_id, "accepted", status=stored.status, event=stored
            )
        else:  # a concurrent request stored it first
            results[index] = ItemResult(
                index,
                event.client_id,
                "duplicate" if same else "conflict",
                status=stored.status,
                errors={} if same else {"client_id": [_("Already used for a different event.")]},
                event=stored,
            )
    if to_create:
        events_enqueue_processing()
    return results


def _store(to_create: list[tuple[int, Event]], source_key: str) -> dict[str, Event]:
    """bulk_create, or, if a concurrent request inserted one of the same client ids, one by
    one so each item still gets its answer."""
    events = [event for _index, event in to_create]
    if not events:
        return {}
    try:
        with transaction.atomic():
            Event.objects.bulk_create(events)
        return {event.client_id: event for event in events}
    except IntegrityError:
        for event in events:
            event.pk = None
    stored = {}
    for event in events:
        try:
            with transaction.atomic():
                event.save()
            stored[event.client_id] = event
        except IntegrityError:
            event.pk = None
            stored[event.client_id] = Event.objects.get(
                source_key=source_key, client_id=event.client_id
            )
    return stored


def _item_errors(data, types, members, stores, store_bound, member_app) -> dict:
    errors: dict[str, list[str]] = {}
    event_type = types.get(data["type"])
    if event_type is None:
        errors["type"] = [_("Unknown event type.")]
    elif event_type.code in OWN_ENDPOINT:
        errors["type"] = [
            _("Send %s events to %s.") % (event_type.code, OWN_ENDPOINT[event_type.code])
        ]
    elif member_app and not event_type.member_app:
        errors["type"] = [_("Members can't send this event type.")]
    if member_app:
        errors.update(_member_app_errors(data))
    member = members.get(data["member_number"])
    if member is None:
        errors["member_number"] = [_("No member has this number.")]
    elif member.status != Member.Status.ACTIVE:
        errors["member_number"] = [_("The member is not active.")]
    store = stores.get(data["store_code"]) if data["store_code"] else None
    if data["store_code"] and store is None:
        errors["store_code"] = [_("No store has this code.")]
    elif store_bound is not None and (store is None or store.pk != store_bound.pk):
        errors["store_code"] = [
            _("This API key may send events only for store %s.") % store_bound.code
        ]
    if event_type is not None and "type" not in errors:
        # Each under the path to its key, as the API names nested input (payload.platform).
        for where, message in payload_problems(event_type, data["payload"]):
            errors.setdefault(f"payload.{where}" if where else "payload", []).append(message)
    return errors


# How old a member app's event may be: an app may hold events while offline, but a member
# must not back-date one into a past campaign, day or month (conditions read the time).
MEMBER_EVENT_MAX_AGE = dt.timedelta(hours=24)


def _member_app_errors(data) -> dict[str, list[str]]:
    """What a member may not say about their own event: the weather (conditions on it would
    be the member's to satisfy; the store's observed weather is used) and a time older than
    MEMBER_EVENT_MAX_AGE."""
    errors = {}
    if data["weather"]:
        errors["weather"] = [_("Members can't report the weather; the observed weather is used.")]
    if data["occurred_at"] < timezone.now() - MEMBER_EVENT_MAX_AGE:
        errors["occurred_at"] = [_("A member's event must be from the last 24 hours.")]
    return errors


def _builtin(code: str) -> EventType:
    return EventType.objects.get(code=code)


def event_for_purchase(*, purchase: Purchase, source_key: str = "purchases") -> Event:
    """The purchase event of a recorded purchase (once: the order reference is its client id)."""
    event, created = Event.objects.get_or_create(
        source_key=source_key,
        client_id=purchase.order_reference,
        defaults={
            "type": _builtin("purchase"),
            "member_id": purchase.member_id,
            "store_id": purchase.store_id,
            "occurred_at": purchase.occurred_at,
            "purchase": purchase,
            "payload": {"order_id": purchase.order_reference, "total": purchase.total},
            "body_hash": "",
        },
    )
    if created:
        events_enqueue_processing()
    return event


def event_for_return(*, purchase_return: PurchaseReturn, source_key: str = "returns") -> Event:
    purchase = purchase_return.purchase
    event, created = Event.objects.get_or_create(
        source_key=source_key,
        client_id=purchase_return.return_reference,
        defaults={
            "type": _builtin("return"),
            "member_id": purchase.member_id,
            "store_id": purchase.store_id,
            "occurred_at": purchase_return.occurred_at,
            "purchase": purchase,
            "purchase_return": purchase_return,
            "payload": {
                "order_id": purchase.order_reference,
                "return_id": purchase_return.return_reference,
                "amount": purchase_return.amount,
            },
            "body_hash": "",
        },
    )
    if created:
        events_enqueue_processing()
    return event


# Set by events_processing_deferred(): store events without ringing the workers.
_processing_deferred: ContextVar[bool] = ContextVar("events_processing_deferred", default=False)


@contextmanager
def events_processing_deferred() -> Iterator[None]:
    """Within the block, storing events rings no worker (in-process mode would otherwise
    process them at every commit). For bulk loads (the demo, benchmarks) that store a
    history and then process it with `events_process_pending`; a pending event left behind
    is still taken by the beat's every-minute run."""
    token = _processing_deferred.set(True)
    try:
        yield
    finally:
        _processing_deferred.reset(token)


def events_enqueue_processing() -> None:
    """Ring the doorbell after commit; the events themselves are already safe in the table."""
    if _processing_deferred.get():
        return
    transaction.on_commit(events_doorbell_ring)


# Set while a processing task is queued and has not started: storing more events then sends
# no other one. The task deletes it before it reads the pending events, so an event whose
# ring found it set was committed before that read, and is read. The time limit covers a
# message lost after it was set; the beat's every-minute task takes what is left meanwhile.
DOORBELL = "challenges:events:doorbell"
DOORBELL_TIMEOUT_S = 60


def events_doorbell_ring() -> None:
    """Send the processing task, unless one is queued already: under load, one message
    serves every event stored before a worker takes it (a Redis SET NX, not a Celery
    message per request)."""
    from .tasks import process_pending_events_task

    if _doorbell_shared() and not cache.add(DOORBELL, 1, timeout=DOORBELL_TIMEOUT_S):
        return
    try:
        process_pending_events_task.delay()
    except Exception:
        cache.delete(DOORBELL)  # nothing queued: the next event rings again
        raise


def _doorbell_shared() -> bool:
    """Whether the workers see this process's doorbell: a cache shared between processes
    (Redis), or tasks run in this process. A broker without REDIS_URL (RabbitMQ) leaves the
    cache in this process's memory, where no worker could answer it: every event rings."""
    return settings.CELERY_TASK_ALWAYS_EAGER or not isinstance(caches["default"], LocMemCache)


def events_doorbell_answer() -> None:
    """A processing task starts: later events ring again (before it reads the pending ones)."""
    cache.delete(DOORBELL)
