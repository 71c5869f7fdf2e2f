"""POS / e-commerce intake of purchases and returns (scope events:write)."""

from django.db.models import Sum
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from loyalty.models import LedgerEntry, Purchase
from loyalty.models.ledger import EntryKind
from loyalty.models.purchases import Channel
from loyalty.purchases import Line, purchase_record, purchase_return
from members.authentication import scoped
from members.models import Staff

from .common import api_field_names, member_from_body, store_for_key
from .idempotency import replay_headers


class LineSerializer(serializers.Serializer):
    sku = serializers.CharField(max_length=64)
    category = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")
    quantity = serializers.IntegerField(min_value=1)
    unit_price = serializers.IntegerField(min_value=0)


class PurchaseInSerializer(serializers.Serializer):
    order_id = serializers.CharField(max_length=64)
    member_number = serializers.CharField(max_length=16)
    store_code = serializers.CharField(max_length=32, required=False, allow_blank=True, default="")
    staff_code = serializers.CharField(max_length=32, required=False, allow_blank=True, default="")
    channel = serializers.ChoiceField(choices=Channel.choices, default=Channel.STORE)
    occurred_at = serializers.DateTimeField()
    total = serializers.IntegerField(min_value=0)
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
        responses={201: PurchaseOutSerializer},
        summary="Record a purchase and earn its base points (idempotent on order_id)",
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
        headers = replay_headers(created)
        return Response(_purchase_body(purchase), status=status.HTTP_201_CREATED, headers=headers)


class ReturnInSerializer(serializers.Serializer):
    order_id = serializers.CharField(max_length=64)
    return_id = serializers.CharField(max_length=64)
    amount = serializers.IntegerField(min_value=1)
    occurred_at = serializers.DateTimeField(required=False)


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
        responses={201: ReturnOutSerializer},
        summary="Return part or all of a purchase (idempotent on return_id)",
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
