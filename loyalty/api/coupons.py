"""Coupon issue and redemption by integrations (scopes coupons:issue, coupons:redeem)."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from loyalty.coupons import coupon_code_display, coupon_issue, coupon_redeem
from loyalty.models import Coupon, CouponTemplate
from members.authentication import scoped

from .common import IDEMPOTENCY_PARAMETER, api_field_names, member_from_body, store_for_key
from .idempotency import idempotent, replay_headers


class CouponSerializer(serializers.ModelSerializer):
    code = serializers.SerializerMethodField()
    template = serializers.SlugRelatedField(slug_field="code", read_only=True)
    member_number = serializers.CharField(source="member.member_number", read_only=True)
    used_store = serializers.SlugRelatedField(slug_field="code", read_only=True)

    class Meta:
        model = Coupon
        fields = [
            "code",
            "template",
            "member_number",
            "status",
            "issued_at",
            "valid_until",
            "used_at",
            "used_store",
            "order_reference",
        ]
        read_only_fields = fields

    def get_code(self, coupon) -> str:
        return coupon_code_display(coupon.code)


class IssueInSerializer(serializers.Serializer):
    template = serializers.SlugRelatedField(
        slug_field="code", queryset=CouponTemplate.objects.all()
    )
    member_number = serializers.CharField(max_length=16)


class RedeemInSerializer(serializers.Serializer):
    code = serializers.CharField(max_length=32)
    order_id = serializers.CharField(max_length=64)
    store_code = serializers.CharField(max_length=32, required=False, allow_blank=True, default="")


class CouponIssueView(APIView):
    permission_classes = [scoped("coupons:issue")]

    @extend_schema(
        operation_id="coupons_issue",
        request=IssueInSerializer,
        responses={201: CouponSerializer},
        parameters=[IDEMPOTENCY_PARAMETER],
    )
    def post(self, request):
        def issue():
            data = IssueInSerializer(data=request.data)
            data.is_valid(raise_exception=True)
            coupon = coupon_issue(
                template=data.validated_data["template"],
                member=member_from_body(data.validated_data["member_number"]),
                issued_via=Coupon.IssuedVia.API,
            )
            return Response(CouponSerializer(coupon).data, status=status.HTTP_201_CREATED)

        return idempotent(request, issue)


class CouponRedeemView(APIView):
    permission_classes = [scoped("coupons:redeem")]

    @extend_schema(
        operation_id="coupons_redeem",
        request=RedeemInSerializer,
        responses={200: CouponSerializer},
        summary="Use a coupon once; a retry with the same order_id succeeds, another order: 409",
    )
    def post(self, request):
        data = RedeemInSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        body = data.validated_data
        store = store_for_key(request.auth, body["store_code"])
        with api_field_names(order_reference="order_id", store="store_code"):
            coupon, used_now = coupon_redeem(
                code=body["code"], order_reference=body["order_id"], store=store
            )
        headers = replay_headers(used_now)
        return Response(CouponSerializer(coupon).data, headers=headers)
