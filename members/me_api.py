"""The member app's endpoints: log in, then only ever the caller's own data (`/api/v1/me/...`)."""

import django_filters
from django.utils import timezone
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import generics, serializers, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from loyalty.api.coupons import CouponSerializer
from loyalty.api.throttling import LoginRateThrottle
from loyalty.models import Coupon, LedgerEntry
from loyalty.selectors import member_balance, member_expiry_schedule

from .api import MemberSerializer, MemberUpdateSerializer
from .authentication import IsMember
from .member_tokens import member_token_login, member_token_revoke
from .models import Member
from .services import member_update_contact


class Page(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


class LoginSerializer(serializers.Serializer):
    login = serializers.CharField(max_length=254, help_text="Member number or e-mail.")
    password = serializers.CharField(max_length=128, trim_whitespace=False)


class TokenView(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = [LoginRateThrottle]

    @extend_schema(
        operation_id="auth_token",
        request=LoginSerializer,
        responses={
            201: inline_serializer(
                "Token",
                {"token": serializers.CharField(), "expires_at": serializers.DateTimeField()},
            )
        },
    )
    def post(self, request):
        data = LoginSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        token, raw = member_token_login(**data.validated_data)
        return Response(
            {
                "token": raw,
                "expires_at": serializers.DateTimeField().to_representation(token.expires_at),
            },
            status=status.HTTP_201_CREATED,
        )


class LogoutView(APIView):
    permission_classes = [IsMember]

    @extend_schema(operation_id="auth_logout", request=None, responses={204: None})
    def post(self, request):
        member_token_revoke(token=request.auth)
        return Response(status=status.HTTP_204_NO_CONTENT)


def _me(request) -> Member:
    return Member.objects.select_related("tier", "home_store").get(pk=request.auth.member_id)


class MeView(APIView):
    permission_classes = [IsMember]

    @extend_schema(operation_id="me_retrieve", responses={200: MemberSerializer})
    def get(self, request):
        return Response(MemberSerializer(_me(request)).data)

    @extend_schema(
        operation_id="me_update", request=MemberUpdateSerializer, responses={200: MemberSerializer}
    )
    def patch(self, request):
        data = MemberUpdateSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        member_update_contact(member=_me(request), **data.validated_data)
        return Response(MemberSerializer(_me(request)).data)


class ExpirySerializer(serializers.Serializer):
    expires_at = serializers.DateTimeField()
    points = serializers.IntegerField()


class PointsOutSerializer(serializers.Serializer):
    available = serializers.IntegerField()
    pending = serializers.IntegerField()
    owed = serializers.IntegerField()
    lifetime = serializers.IntegerField()
    expiring_soon = serializers.IntegerField()
    expiring_soon_until = serializers.DateTimeField()
    expiry_schedule = ExpirySerializer(many=True)


class MePointsView(APIView):
    permission_classes = [IsMember]

    @extend_schema(operation_id="me_points", responses={200: PointsOutSerializer})
    def get(self, request):
        member = _me(request)
        now = timezone.now()
        balance = member_balance(member=member, now=now)
        body = {
            **balance.__dict__,
            "expiry_schedule": member_expiry_schedule(member=member, now=now),
        }
        return Response(PointsOutSerializer(body).data)


class LedgerEntrySerializer(serializers.ModelSerializer):
    store = serializers.SlugRelatedField(source="purchase.store", slug_field="code", read_only=True)

    class Meta:
        model = LedgerEntry
        fields = [
            "id",
            "occurred_at",
            "kind",
            "state",
            "points",
            "source",
            "reason",
            "reference",
            "store",
            "available_at",
            "expires_at",
        ]
        read_only_fields = fields


class LedgerFilter(django_filters.FilterSet):
    kind = django_filters.ChoiceFilter(choices=LedgerEntry._meta.get_field("kind").choices)
    state = django_filters.ChoiceFilter(choices=LedgerEntry._meta.get_field("state").choices)
    occurred_after = django_filters.IsoDateTimeFilter(field_name="occurred_at", lookup_expr="gte")
    occurred_before = django_filters.IsoDateTimeFilter(field_name="occurred_at", lookup_expr="lt")
    store = django_filters.CharFilter(field_name="purchase__store__code")

    class Meta:
        model = LedgerEntry
        fields = ["kind", "state", "occurred_after", "occurred_before", "store"]


class MeLedgerView(generics.ListAPIView):
    permission_classes = [IsMember]
    serializer_class = LedgerEntrySerializer
    pagination_class = Page
    filterset_class = LedgerFilter

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return LedgerEntry.objects.none()
        return (
            LedgerEntry.objects.filter(member_id=self.request.auth.member_id)
            .select_related("purchase__store")
            .order_by("-occurred_at", "-id")
        )


class CouponFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=Coupon.Status.choices)

    class Meta:
        model = Coupon
        fields = ["status"]


class MeCouponSerializer(CouponSerializer):
    name = serializers.CharField(source="template.name", read_only=True)
    description = serializers.CharField(source="template.description", read_only=True)
    kind = serializers.CharField(source="template.kind", read_only=True)
    amount_off = serializers.IntegerField(
        source="template.amount_off", read_only=True, allow_null=True
    )
    percent_off = serializers.IntegerField(
        source="template.percent_off", read_only=True, allow_null=True
    )

    class Meta(CouponSerializer.Meta):
        fields = [
            *CouponSerializer.Meta.fields,
            "name",
            "description",
            "kind",
            "amount_off",
            "percent_off",
        ]
        read_only_fields = fields


class MeCouponsView(generics.ListAPIView):
    permission_classes = [IsMember]
    serializer_class = MeCouponSerializer
    pagination_class = Page
    filterset_class = CouponFilter

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Coupon.objects.none()
        return (
            Coupon.objects.filter(member_id=self.request.auth.member_id)
            .select_related("template", "member", "used_store")
            .order_by("-issued_at", "-id")
        )


class CardSerializer(serializers.Serializer):
    member_number = serializers.CharField()
    name = serializers.CharField()
    tier = serializers.CharField(allow_null=True)
    barcode = inline_serializer(
        "Barcode", {"format": serializers.CharField(), "payload": serializers.CharField()}
    )


class MeCardView(APIView):
    permission_classes = [IsMember]

    @extend_schema(operation_id="me_card", responses={200: CardSerializer})
    def get(self, request):
        member = _me(request)
        return Response(
            CardSerializer(
                {
                    "member_number": member.member_number,
                    "name": member.name,
                    "tier": member.tier.code if member.tier_id else None,
                    # Code 128 of the bare number: what a till's scanner reads off the card.
                    "barcode": {"format": "code128", "payload": member.member_number},
                }
            ).data
        )
