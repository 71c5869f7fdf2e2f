"""Points adjustments by integrations (scope points:adjust)."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from loyalty.ledger import points_adjust
from loyalty.models.ledger import EntrySource
from members.authentication import scoped

from .common import IDEMPOTENCY_PARAMETER, member_from_body
from .idempotency import HEADER, idempotent


class AdjustmentInSerializer(serializers.Serializer):
    member_number = serializers.CharField(max_length=16)
    points = serializers.IntegerField()
    reason = serializers.CharField(max_length=255)

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
        responses={201: AdjustmentOutSerializer},
        parameters=[IDEMPOTENCY_PARAMETER],
        summary="Add (positive) or remove (negative) points with a reason",
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
                reference=f"api:{request.headers.get(HEADER, '')[:58]}",
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
