"""Events intake and challenge dry-run for integrations (`/api/v1/events`, `/api/v1/challenges`)."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import (
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
    inline_serializer,
)
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from loyalty.api.coupons import CouponSerializer
from loyalty.api.errors import error_body
from loyalty.api.idempotency import replay_headers
from members.authentication import scoped

from . import api_examples as examples
from .dry_run import DryRunEventSerializer, dry_run
from .intake import MAX_BATCH, EventInSerializer, events_ingest
from .models import Award, Challenge, Event


def source_key_for(request) -> str:
    return f"key:{request.auth.pk}"


class EffectSerializer(serializers.Serializer):
    challenge = serializers.CharField(source="version.challenge.code")
    version = serializers.IntegerField(source="version.number")
    kind = serializers.ChoiceField(choices=Award.Kind.choices)
    points = serializers.IntegerField()
    points_reversed = serializers.IntegerField()
    coupon = CouponSerializer(allow_null=True)


class VerificationOutSerializer(serializers.Serializer):
    challenge = serializers.CharField(source="version.challenge.code")
    status = serializers.CharField()
    note = serializers.CharField()


class EventOutSerializer(serializers.ModelSerializer):
    type = serializers.SlugRelatedField(slug_field="code", read_only=True)
    member_number = serializers.CharField(source="member.member_number")
    store_code = serializers.SlugRelatedField(
        source="store", slug_field="code", read_only=True, allow_null=True
    )
    effects = EffectSerializer(source="awards", many=True, read_only=True)
    verifications = VerificationOutSerializer(many=True, read_only=True)

    class Meta:
        model = Event
        fields = [
            "client_id",
            "type",
            "member_number",
            "store_code",
            "occurred_at",
            "payload",
            "weather",
            "status",
            "rejection",
            "received_at",
            "processed_at",
            "effects",
            "verifications",
        ]
        read_only_fields = fields


class _NewEventOutSerializer(EventOutSerializer):
    """An event just stored by this request, with its type, member and store at hand:
    processing starts after commit, so it has no effects or verifications yet (nothing to
    read from the database)."""

    effects = serializers.SerializerMethodField()
    verifications = serializers.SerializerMethodField()

    def get_effects(self, event) -> list:
        return []

    def get_verifications(self, event) -> list:
        return []


# Built once: DRF builds a serializer's fields (deep copies of the declared ones, nested
# serializers included) for each instance, about a millisecond of a single event's request.
# They read no context and keep no state between calls, so one instance answers every request.
_EVENT_OUT = EventOutSerializer()
_NEW_EVENT_OUT = _NewEventOutSerializer()


class ItemResultSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    client_id = serializers.CharField()
    result = serializers.ChoiceField(choices=["accepted", "duplicate", "conflict", "rejected"])
    status = serializers.CharField(allow_blank=True, help_text="The stored event's status.")
    errors = serializers.DictField(child=serializers.ListField(child=serializers.CharField()))


class BatchInSerializer(serializers.Serializer):
    # Any JSON value per item: a non-object item is that item's rejection (events_ingest),
    # never the batch's.
    events = serializers.ListField(
        child=serializers.JSONField(allow_null=True), min_length=1, max_length=MAX_BATCH
    )


class BatchOutSerializer(serializers.Serializer):
    accepted = serializers.IntegerField()
    duplicates = serializers.IntegerField()
    rejected = serializers.IntegerField()
    conflicts = serializers.IntegerField()
    results = ItemResultSerializer(many=True)


def _item_out(result) -> dict:
    return {
        "index": result.index,
        "client_id": result.client_id,
        "result": result.result,
        "status": result.status,
        "errors": result.errors,
    }


def events_response(results, *, single: bool) -> Response:
    """One event: 201 accepted, 200 duplicate (replayed), 400 rejected, 409 conflict.
    A batch: 200 with a result per item (invalid items don't block the valid ones)."""
    if single:
        result = results[0]
        if result.result == "rejected":
            fields = result.errors
            first = next(iter(fields.items()))
            return Response(
                error_body("invalid", f"{first[0]}: {first[1][0]}", fields),
                status=status.HTTP_400_BAD_REQUEST,
            )
        if result.result == "conflict":
            return Response(
                error_body(
                    "idempotency_conflict",
                    "This client_id was already used for a different event.",
                    result.errors,
                ),
                status=status.HTTP_409_CONFLICT,
            )
        first_time = result.result == "accepted"
        if first_time:
            data = _NEW_EVENT_OUT.to_representation(result.event)
        else:
            event = Event.objects.select_related("type", "member", "store").get(pk=result.event.pk)
            data = _EVENT_OUT.to_representation(event)
        return Response(
            data,
            status=status.HTTP_201_CREATED if first_time else status.HTTP_200_OK,
            headers=replay_headers(first_time),
        )
    counts = {kind: 0 for kind in ("accepted", "duplicate", "rejected", "conflict")}
    for result in results:
        counts[result.result] += 1
    return Response(
        {
            "accepted": counts["accepted"],
            "duplicates": counts["duplicate"],
            "rejected": counts["rejected"],
            "conflicts": counts["conflict"],
            "results": [_item_out(r) for r in results],
        }
    )


class EventsView(APIView):
    permission_classes = [scoped("events:write")]

    @extend_schema(
        operation_id="events_create",
        request=EventInSerializer,
        examples=examples.EVENTS_CREATE,
        responses={
            201: EventOutSerializer,
            200: OpenApiResponse(
                PolymorphicProxySerializer(
                    component_name="EventReplayOrBatch",
                    serializers=[EventOutSerializer, BatchOutSerializer],
                    resource_type_field_name=None,
                ),
                description='A batch ({"events": [...]}, up to 1,000): one result per item; '
                "or the replay of a single event already received.",
            ),
            409: examples.CLIENT_ID_CONFLICT,
        },
        summary='Send one event, or a batch of up to 1,000 as {"events": [...]}',
        description=(
            "Idempotent on client_id per API key: the same event again answers with the stored "
            "one (`Idempotent-Replay: true`), the same client_id with a different body 409. "
            "In a batch each item is answered on its own: `accepted`, `duplicate`, `conflict` "
            "or `rejected` with the reasons per field; invalid items don't stop valid ones. "
            "Purchases and returns go to /purchases and /returns."
        ),
    )
    def post(self, request):
        single = not (isinstance(request.data, dict) and "events" in request.data)
        if single:
            items = [request.data]
        else:
            envelope = BatchInSerializer(data=request.data)
            envelope.is_valid(raise_exception=True)
            items = envelope.validated_data["events"]
        if single and not isinstance(request.data, dict):
            raise ValidationError(
                {"non_field_errors": ['Send an event object or {"events": [...]}.']}
            )
        results = events_ingest(
            source_key=source_key_for(request), items=items, store_bound=request.auth.store
        )
        return events_response(results, single=single)


class EventDetailView(APIView):
    permission_classes = [scoped("events:read")]

    @extend_schema(
        operation_id="events_retrieve",
        responses={200: EventOutSerializer},
        examples=examples.EVENTS_RETRIEVE,
    )
    def get(self, request, client_id: str):
        event = get_object_or_404(
            Event.objects.select_related("type", "member", "store").prefetch_related(
                "awards__version__challenge", "awards__coupon__template", "verifications"
            ),
            source_key=source_key_for(request),
            client_id=client_id,
        )
        return Response(EventOutSerializer(event).data)


class OutcomeSerializer(serializers.Serializer):
    challenge = serializers.CharField()
    version = serializers.IntegerField()
    name = serializers.CharField()
    fires = serializers.BooleanField()
    stage = serializers.CharField(
        help_text="trigger, period, audience, condition, limit, goal, budget, stacking, "
        "verification or fired"
    )
    reason = serializers.CharField()
    failed_path = serializers.CharField(allow_blank=True)
    points = serializers.IntegerField()
    coupons = serializers.ListField(child=serializers.CharField())
    progress = serializers.IntegerField(allow_null=True)


class DryRunView(APIView):
    permission_classes = [scoped("challenges:read")]

    @extend_schema(
        operation_id="challenges_dry_run",
        request=DryRunEventSerializer,
        examples=examples.DRY_RUN,
        responses={
            200: inline_serializer(
                "DryRun",
                {
                    "event_type": serializers.CharField(),
                    "member_number": serializers.CharField(),
                    "base_points": serializers.IntegerField(),
                    "weather": serializers.DictField(allow_null=True),
                    "outcomes": OutcomeSerializer(many=True),
                },
            )
        },
        summary="What every active rule (and this challenge, even as a draft) would do with "
        "an event; writes nothing",
    )
    def post(self, request, code: str):
        challenge = get_object_or_404(
            Challenge.objects.select_related("current_version"), code=code
        )
        data = DryRunEventSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        reveal = "members:read" in request.auth.scopes
        return Response(
            dry_run(
                challenge=challenge,
                member=data.validated_data["member"],
                data=data.validated_data,
                reveal_member=reveal,
            )
        )
