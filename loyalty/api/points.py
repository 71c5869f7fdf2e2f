"""Points adjustments by integrations (scope points:adjust)."""

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from loyalty.ledger import points_adjust
from loyalty.models.ledger import EntrySource
from members.authentication import scoped

from .common import (
    IDEMPOTENCY_PARAMETER,
    MEMBER_NUMBER,
    REPLAY_HEADER,
    UNKNOWN_MEMBER,
    member_from_body,
)
from .fields import MAX_POINTS, StrictCharField, StrictIntegerField
from .idempotency import idempotency_reference, idempotent
from .schema import IDEMPOTENCY_CONFLICT, error_response, field_error


class AdjustmentInSerializer(serializers.Serializer):
    member_number = StrictCharField(max_length=16)
    points = StrictIntegerField(min_value=-MAX_POINTS, max_value=MAX_POINTS)
    reason = StrictCharField(max_length=255)

    def validate_points(self, value):
        if value == 0:
            raise serializers.ValidationError("Must not be zero.")
        return value


class AdjustmentOutSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    member_number = serializers.CharField()
    points = serializers.IntegerField()
    reason = serializers.CharField()
    occurred_at = serializers.DateTimeField()
    balance_available = serializers.IntegerField()


class AdjustmentView(APIView):
    permission_classes = [scoped("points:adjust")]

    @extend_schema(
        operation_id="points_adjust",
        request=AdjustmentInSerializer,
        responses={
            201: AdjustmentOutSerializer,
            400: error_response(UNKNOWN_MEMBER),
            409: error_response(
                field_error(
                    "Not enough points",
                    "points",
                    "Only 1240 points are available; 2000 requested.",
                    code="insufficient_points",
                ),
                IDEMPOTENCY_CONFLICT,
            ),
        },
        parameters=[IDEMPOTENCY_PARAMETER, REPLAY_HEADER],
        summary=_("Add (positive) or remove (negative) points with a reason"),
        examples=[
            OpenApiExample(
                "Survey reward",
                request_only=True,
                value={"member_number": MEMBER_NUMBER, "points": 50, "reason": "survey reward"},
            ),
            OpenApiExample(
                "Adjusted",
                response_only=True,
                value={
                    "id": 90212,
                    "member_number": MEMBER_NUMBER,
                    "points": 50,
                    "reason": "survey reward",
                    "occurred_at": "2026-05-01T10:00:00+09:00",
                    "balance_available": 1290,
                },
            ),
        ],
    )
    def post(self, request):
        def adjust():
            data = AdjustmentInSerializer(data=request.data)
            data.is_valid(raise_exception=True)
            body = data.validated_data
            member = member_from_body(body["member_number"])
            entry, _created = points_adjust(
                member=member,
                points=body["points"],
                reason=body["reason"],
                source=EntrySource.API,
                reference=idempotency_reference(request),
            )
            member.refresh_from_db(fields=["points_available"])
            out = AdjustmentOutSerializer(
                {
                    "id": entry.pk,
                    "member_number": member.member_number,
                    "points": entry.points,
                    "reason": entry.reason,
                    "occurred_at": entry.occurred_at,
                    "balance_available": member.points_available,
                }
            )
            return Response(out.data, status=status.HTTP_201_CREATED)

        return idempotent(request, adjust)
