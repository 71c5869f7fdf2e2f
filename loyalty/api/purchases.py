"""POS / e-commerce intake of purchases and returns (scope events:write)."""

from django.db.models import Sum
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from challenges.intake import event_for_purchase, event_for_return
from loyalty.models import LedgerEntry, Purchase
from loyalty.models.ledger import EntryKind
from loyalty.models.purchases import Channel
from loyalty.purchases import Line, purchase_record, purchase_return
from members.authentication import scoped
from members.models import Staff

from .common import (
    MEMBER_NUMBER,
    REPLAY_HEADER,
    STORE_DENIED,
    UNKNOWN_MEMBER,
    api_field_names,
    member_from_body,
    store_for_key,
)
from .fields import (
    MAX_QUANTITY,
    MAX_YEN,
    EventTimeField,
    StrictCharField,
    StrictIntegerField,
)
from .idempotency import replay_headers
from .schema import error_response, field_error

ORDER_ID = "POS-TYO01-20260501-0042"
ORDER_ID_REUSED = field_error(
    "Order id reused",
    "order_id",
    "This reference was already used for a different request.",
    code="idempotency_conflict",
)


class LineSerializer(serializers.Serializer):
    sku = StrictCharField(max_length=64)
    category = StrictCharField(max_length=64, required=False, allow_blank=True, default="")
    quantity = StrictIntegerField(min_value=1, max_value=MAX_QUANTITY)
    unit_price = StrictIntegerField(min_value=0, max_value=MAX_YEN)


class PurchaseInSerializer(serializers.Serializer):
    order_id = StrictCharField(max_length=64)
    member_number = StrictCharField(max_length=16)
    store_code = StrictCharField(max_length=32, required=False, allow_blank=True, default="")
    staff_code = StrictCharField(max_length=32, required=False, allow_blank=True, default="")
    channel = serializers.ChoiceField(choices=Channel.choices, default=Channel.STORE)
    occurred_at = EventTimeField()
    total = StrictIntegerField(min_value=0, max_value=MAX_YEN)
    lines = LineSerializer(many=True, allow_empty=True, max_length=500)


class PurchaseOutSerializer(serializers.Serializer):
    order_id = serializers.CharField()
    member_number = serializers.CharField()
    total = serializers.IntegerField()
    returned_total = serializers.IntegerField()
    points_earned = serializers.IntegerField()
    points_state = serializers.ChoiceField(choices=["pending", "available", "none"])


def _purchase_body(purchase: Purchase) -> dict:
    earn = LedgerEntry.objects.filter(purchase=purchase, kind=EntryKind.EARN).first()
    return PurchaseOutSerializer(
        {
            "order_id": purchase.order_reference,
            "member_number": purchase.member.member_number,
            "total": purchase.total,
            "returned_total": purchase.returned_total,
            "points_earned": earn.points if earn else 0,
            "points_state": earn.state if earn else "none",
        }
    ).data


class PurchaseView(APIView):
    permission_classes = [scoped("events:write")]

    @extend_schema(
        operation_id="purchases_create",
        request=PurchaseInSerializer,
        responses={
            201: PurchaseOutSerializer,
            400: error_response(UNKNOWN_MEMBER),
            403: error_response(STORE_DENIED),
            409: error_response(
                ORDER_ID_REUSED,
                field_error(
                    "Member withdrawn",
                    "member",
                    "The member is not active.",
                    code="member_not_active",
                ),
            ),
        },
        parameters=[REPLAY_HEADER],
        summary=_("Record a purchase and earn its base points (idempotent on order_id)"),
        examples=[
            OpenApiExample(
                "Till purchase",
                request_only=True,
                value={
                    "order_id": ORDER_ID,
                    "member_number": MEMBER_NUMBER,
                    "store_code": "TYO01",
                    "staff_code": "TYO01-01",
                    "channel": "store",
                    "occurred_at": "2026-05-01T10:00:00+09:00",
                    "total": 3240,
                    "lines": [
                        {
                            "sku": "TEA-GREEN-350",
                            "category": "drinks",
                            "quantity": 2,
                            "unit_price": 1000,
                        },
                        {
                            "sku": "CAKE-MATCHA",
                            "category": "food",
                            "quantity": 1,
                            "unit_price": 1240,
                        },
                    ],
                },
            ),
            OpenApiExample(
                "Recorded",
                response_only=True,
                value={
                    "order_id": ORDER_ID,
                    "member_number": MEMBER_NUMBER,
                    "total": 3240,
                    "returned_total": 0,
                    "points_earned": 32,
                    "points_state": "available",
                },
            ),
        ],
    )
    def post(self, request):
        data = PurchaseInSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        body = data.validated_data
        member = member_from_body(body["member_number"])
        store = store_for_key(request.auth, body["store_code"])
        staff = None
        if body["staff_code"]:
            staff = Staff.objects.filter(code=body["staff_code"]).first()
            if staff is None:
                raise serializers.ValidationError(
                    {"staff_code": ["No staff member has this code."]}
                )
        with api_field_names(order_reference="order_id", total="total"):
            purchase, created = purchase_record(
                member=member,
                order_reference=body["order_id"],
                total=body["total"],
                occurred_at=body["occurred_at"],
                lines=[Line(**line) for line in body["lines"]],
                store=store,
                staff=staff,
                channel=body["channel"],
            )
        event_for_purchase(purchase=purchase)  # challenges evaluate it (one intake path)
        headers = replay_headers(created)
        return Response(_purchase_body(purchase), status=status.HTTP_201_CREATED, headers=headers)


class ReturnInSerializer(serializers.Serializer):
    order_id = StrictCharField(max_length=64)
    return_id = StrictCharField(max_length=64)
    amount = StrictIntegerField(min_value=1, max_value=MAX_YEN)
    occurred_at = EventTimeField(required=False)


class ReturnOutSerializer(serializers.Serializer):
    return_id = serializers.CharField()
    order_id = serializers.CharField()
    amount = serializers.IntegerField()
    points_reversed = serializers.IntegerField()


class ReturnView(APIView):
    permission_classes = [scoped("events:write")]

    @extend_schema(
        operation_id="returns_create",
        request=ReturnInSerializer,
        responses={
            201: ReturnOutSerializer,
            400: error_response(
                field_error("Unknown order", "order_id", "No purchase has this order id.")
            ),
            403: error_response(STORE_DENIED),
            409: error_response(
                field_error(
                    "More than was bought",
                    "amount",
                    "Only 1620 yen of this purchase can still be returned.",
                    code="return_exceeds_purchase",
                ),
                field_error(
                    "Return id reused",
                    "return_id",
                    "This reference was already used for a different request.",
                    code="idempotency_conflict",
                ),
            ),
        },
        parameters=[REPLAY_HEADER],
        summary=_("Return part or all of a purchase (idempotent on return_id)"),
        examples=[
            OpenApiExample(
                "Half returned",
                request_only=True,
                value={
                    "order_id": ORDER_ID,
                    "return_id": "RET-TYO01-20260503-0007",
                    "amount": 1620,
                    "occurred_at": "2026-05-03T15:30:00+09:00",
                },
            ),
            OpenApiExample(
                "Reversed",
                response_only=True,
                value={
                    "return_id": "RET-TYO01-20260503-0007",
                    "order_id": ORDER_ID,
                    "amount": 1620,
                    "points_reversed": 16,
                },
            ),
        ],
    )
    def post(self, request):
        data = ReturnInSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        body = data.validated_data
        purchase = Purchase.objects.filter(order_reference=body["order_id"]).first()
        if purchase is None:
            raise serializers.ValidationError({"order_id": ["No purchase has this order id."]})
        store_for_key(request.auth, purchase.store.code if purchase.store_id else None)
        with api_field_names(order_reference="order_id", return_reference="return_id"):
            returned, created = purchase_return(
                order_reference=body["order_id"],
                return_reference=body["return_id"],
                amount=body["amount"],
                occurred_at=body.get("occurred_at"),
            )
        event_for_return(purchase_return=returned)
        reversed_ = LedgerEntry.objects.filter(
            purchase_id=returned.purchase_id,
            kind=EntryKind.REVERSE,
            reference=returned.return_reference,
        ).aggregate(s=Sum("points", default=0))["s"]
        out = ReturnOutSerializer(
            {
                "return_id": returned.return_reference,
                "order_id": body["order_id"],
                "amount": returned.amount,
                "points_reversed": -reversed_,
            }
        ).data
        headers = replay_headers(created)
        return Response(out, status=status.HTTP_201_CREATED, headers=headers)
