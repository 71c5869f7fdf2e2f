"""Coupon issue and redemption by integrations (scopes coupons:issue, coupons:redeem)."""

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from loyalty.coupons import coupon_code_display, coupon_issue, coupon_redeem
from loyalty.models import Coupon, CouponTemplate
from members.authentication import scoped

from .common import (
    IDEMPOTENCY_PARAMETER,
    MEMBER_NUMBER,
    REPLAY_HEADER,
    STORE_DENIED,
    UNKNOWN_MEMBER,
    api_field_names,
    member_from_body,
    store_for_key,
)
from .fields import StrictCharField, StrictSlugRelatedField
from .idempotency import idempotent, replay_headers
from .schema import IDEMPOTENCY_CONFLICT, error_response, field_error

COUPON_EXAMPLE = {
    "code": "7KQM-4XTP-9HWD",
    "template": "welcome-500",
    "member_number": MEMBER_NUMBER,
    "status": "issued",
    "issued_at": "2026-05-01T10:00:00+09:00",
    "valid_until": "2026-05-31T10:00:00+09:00",
    "used_at": None,
    "used_store": None,
    "order_reference": "",
}


class CouponSerializer(serializers.ModelSerializer):
    code = serializers.SerializerMethodField()
    template = serializers.SlugRelatedField(slug_field="code", read_only=True)
    member_number = serializers.CharField(source="member.member_number", read_only=True)
    used_store = serializers.SlugRelatedField(slug_field="code", read_only=True, allow_null=True)

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
    template = StrictSlugRelatedField(slug_field="code", queryset=CouponTemplate.objects.all())
    member_number = StrictCharField(max_length=16)


class RedeemInSerializer(serializers.Serializer):
    code = StrictCharField(max_length=32)
    order_id = StrictCharField(max_length=64)
    store_code = StrictCharField(max_length=32, required=False, allow_blank=True, default="")


class CouponIssueView(APIView):
    permission_classes = [scoped("coupons:issue")]

    @extend_schema(
        operation_id="coupons_issue",
        request=IssueInSerializer,
        responses={
            201: CouponSerializer,
            400: error_response(UNKNOWN_MEMBER),
            409: error_response(
                field_error(
                    "Limit reached",
                    "template",
                    "The member already has the maximum number of this coupon.",
                    code="coupon_unavailable",
                ),
                field_error(
                    "Member withdrawn",
                    "member",
                    "The member is not active.",
                    code="member_not_active",
                ),
                IDEMPOTENCY_CONFLICT,
            ),
        },
        parameters=[IDEMPOTENCY_PARAMETER, REPLAY_HEADER],
        summary=_("Issue a coupon from a template to a member"),
        examples=[
            OpenApiExample(
                "Issue",
                request_only=True,
                value={"template": "welcome-500", "member_number": MEMBER_NUMBER},
            ),
            OpenApiExample("Issued", response_only=True, value=COUPON_EXAMPLE),
        ],
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
        responses={
            200: CouponSerializer,
            400: error_response(field_error("Unknown code", "code", "No coupon has this code.")),
            403: error_response(STORE_DENIED),
            409: error_response(
                field_error(
                    "Used by another order",
                    "code",
                    "This coupon was already used for another order.",
                    code="coupon_already_used",
                ),
                field_error(
                    "Expired", "code", "This coupon has expired.", code="coupon_not_usable"
                ),
                field_error(
                    "Not valid at this store",
                    "store_code",
                    "This coupon is not valid at this store.",
                    code="coupon_not_valid_at_store",
                ),
            ),
        },
        parameters=[REPLAY_HEADER],
        summary=_("Use a coupon once; a retry with the same order_id succeeds, another order: 409"),
        examples=[
            OpenApiExample(
                "Redeem",
                request_only=True,
                value={
                    "code": "7KQM-4XTP-9HWD",
                    "order_id": "POS-TYO01-20260501-0042",
                    "store_code": "TYO01",
                },
            ),
            OpenApiExample(
                "Used",
                response_only=True,
                value={
                    **COUPON_EXAMPLE,
                    "status": "used",
                    "used_at": "2026-05-01T10:00:00+09:00",
                    "used_store": "TYO01",
                    "order_reference": "POS-TYO01-20260501-0042",
                },
            ),
        ],
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
