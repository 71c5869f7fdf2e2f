"""Dry-run: what every active rule (and one challenge being edited, even as a draft) would do
with an event, and why each rule would not fire.

It runs the worker's own code (challenges/processing.py) on the event inside a transaction
that is always rolled back: a purchase is really recorded (base points, lines), the event
stored, the batch loaded and evaluated, and then nothing of it remains. So a dry-run can never
disagree with what processing the same event would do at that moment.
"""

import re
import uuid

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from rest_framework import serializers

from loyalty.api.common import member_from_body
from loyalty.api.fields import (
    MAX_YEN,
    EventTimeField,
    JsonObjectField,
    StrictCharField,
    StrictIntegerField,
    StrictSlugRelatedField,
)
from loyalty.api.purchases import LineSerializer
from loyalty.models.purchases import Channel
from loyalty.purchases import Line, purchase_record
from members.models import Member, Staff, Store

from . import evaluator
from .definitions import rule_for
from .intake import WeatherSerializer, payload_errors
from .models import Challenge, ChallengeVersion, Event, EventType
from .processing import Batch, active_rules


class DryRunEventSerializer(serializers.Serializer):
    type = StrictSlugRelatedField(slug_field="code", queryset=EventType.objects.all())
    member_number = StrictCharField(max_length=16)
    occurred_at = EventTimeField(required=False, help_text="Default: now.")
    store_code = StrictSlugRelatedField(
        slug_field="code", queryset=Store.objects.all(), required=False, allow_null=True
    )
    payload = JsonObjectField(required=False, default=dict)
    weather = WeatherSerializer(required=False, allow_null=True, default=None)
    # Purchases only:
    total = StrictIntegerField(min_value=0, max_value=MAX_YEN, required=False)
    lines = LineSerializer(many=True, required=False, default=list, max_length=500)
    staff_code = StrictSlugRelatedField(
        slug_field="code", queryset=Staff.objects.all(), required=False, allow_null=True
    )
    channel = serializers.ChoiceField(choices=Channel.choices, default=Channel.STORE)

    def validate(self, attrs):
        event_type = attrs["type"]
        if event_type.code == "purchase" and "total" not in attrs:
            raise serializers.ValidationError({"total": ["Required for a purchase."]})
        if event_type.code == "return":
            raise serializers.ValidationError({"type": ["Returns are not evaluated by rules."]})
        errors = payload_errors(event_type, attrs.get("payload", {}))
        if errors and event_type.code != "purchase":
            raise serializers.ValidationError({"payload": errors})
        # The API and the admin page both take the member from here.
        attrs["member"] = member_from_body(attrs["member_number"])
        if attrs["member"].status != Member.Status.ACTIVE:
            # As intake refuses it: no rule ever sees such an event.
            raise serializers.ValidationError({"member_number": [_("The member is not active.")]})
        return attrs


_MEMBER_VALUE = re.compile(r"(member\.[a-z_]+|counter\.[a-z_]+) is .*")
_AUDIENCE = re.compile(r"^audience: (tier|home store|segment) .*")


def _redacted(reason: str) -> str:
    """A caller without members:read learns which member condition failed, not the value."""
    reason = _MEMBER_VALUE.sub(r"\1 does not match (members:read shows the value)", reason)
    return _AUDIENCE.sub(r"audience: the member's \1 is not in the audience", reason)


def _outcome(
    outcome: evaluator.Outcome, codes: dict[int, str], numbers: dict[int, int], reveal: bool
) -> dict:
    return {
        "challenge": codes[outcome.rule.challenge_id],
        "version": numbers[outcome.rule.version_id],
        "name": outcome.rule.name,
        "fires": outcome.fired,
        "stage": outcome.stage,
        "reason": outcome.reason if reveal else _redacted(outcome.reason),
        "failed_path": outcome.failed_path,
        "points": sum(g.points for g in outcome.grants) if outcome.fired else 0,
        "coupons": [g.template for g in outcome.grants if g.kind == "coupon"]
        if outcome.fired
        else [],
        "progress": outcome.progress.value if outcome.progress is not None else None,
    }


def dry_run(*, challenge: Challenge, member: Member, data: dict, reveal_member: bool) -> dict:
    """`reveal_member`: reasons may quote the member's data (age, tier, counters...); only
    for callers allowed to read members."""
    now = timezone.now()
    with transaction.atomic():
        occurred_at = data.get("occurred_at") or now
        store = data.get("store_code")
        event_type = data["type"]
        purchase = None
        if event_type.code == "purchase":
            purchase, _created = purchase_record(
                member=member,
                order_reference=f"dry-run-{uuid.uuid4().hex}",
                total=data["total"],
                occurred_at=occurred_at,
                lines=[Line(**line) for line in data.get("lines", [])],
                store=store,
                staff=data.get("staff_code"),
                channel=data["channel"],
            )
        event = Event.objects.create(
            source_key="dry-run",
            client_id=uuid.uuid4().hex,
            type=event_type,
            member=member,
            store=store,
            occurred_at=occurred_at,
            payload=data.get("payload", {}),
            weather=dict(data["weather"]) if data.get("weather") else None,
            purchase=purchase,
            body_hash="",
        )
        event = Event.objects.select_related("type", "store", "purchase", "purchase__staff").get(
            pk=event.pk
        )
        rules = active_rules()
        if challenge.current_version_id and all(
            r.version_id != challenge.current_version_id for r in rules
        ):
            rules.append(rule_for(challenge.current_version))
        batch = Batch([event], now=now, rules=rules)
        batch.load()
        facts = batch.facts(event)
        outcomes = evaluator.evaluate(
            facts,
            member_id=member.pk,
            rules=batch.rules,
            state=batch.state,
            base_points=batch.base_points.get(event.purchase_id, 0),
        )
        challenge_ids = {r.challenge_id for r in batch.rules}
        codes = dict(Challenge.objects.filter(pk__in=challenge_ids).values_list("pk", "code"))
        numbers = dict(
            ChallengeVersion.objects.filter(pk__in={r.version_id for r in batch.rules}).values_list(
                "pk", "number"
            )
        )
        transaction.set_rollback(True)
    return {
        "event_type": event_type.code,
        "member_number": member.member_number,
        "base_points": batch.base_points.get(event.purchase_id, 0) if purchase else 0,
        "weather": event.weather,
        "outcomes": [_outcome(o, codes, numbers, reveal_member) for o in outcomes],
    }
