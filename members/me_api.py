"""The member app's endpoints: log in, then only ever the caller's own data (`/api/v1/me/...`)."""

import django_filters
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import (
    OpenApiExample,
    extend_schema,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import generics, serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from loyalty.api.common import MEMBER_NUMBER
from loyalty.api.coupons import COUPON_EXAMPLE, CouponSerializer
from loyalty.api.fields import StrictCharField
from loyalty.api.filters import IsoDateTimeInRangeFilter
from loyalty.api.pagination import Page
from loyalty.api.schema import error_example, error_response, field_error
from loyalty.api.throttling import LoginRateThrottle
from loyalty.models import Coupon, LedgerEntry
from loyalty.selectors import member_balance, member_expiry_schedule

from .api import CONTACT_TAKEN, MEMBER_EXAMPLE, MemberSerializer, MemberUpdateSerializer
from .authentication import IsMember
from .member_tokens import member_token_login, member_token_revoke
from .models import Member
from .passwords import member_password_change
from .services import member_update_contact


class LoginSerializer(serializers.Serializer):
    login = StrictCharField(max_length=254, help_text="Member number or e-mail.")
    password = StrictCharField(max_length=128, trim_whitespace=False)


TOKEN_EXAMPLE = "mt_1a2b3c4d_Hq3vX9kPz0sT7yLmN4bR8cWd2eFg6hJk5nQp1rSu3tV"  # noqa: S105 - example


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
            ),
            401: error_response(
                error_example("Login failed", "login_failed", "Unknown member or wrong password."),
                description=_("Unknown member, no app login, or a wrong password (one answer)."),
            ),
        },
        summary=_("Member app login: a token for the /me endpoints"),
        examples=[
            OpenApiExample(
                "By member number",
                request_only=True,
                value={"login": MEMBER_NUMBER, "password": "kumo-no-ue-2026"},
            ),
            OpenApiExample(
                "By e-mail",
                request_only=True,
                value={"login": "hanako@example.com", "password": "kumo-no-ue-2026"},
            ),
            OpenApiExample(
                "Token",
                response_only=True,
                value={"token": TOKEN_EXAMPLE, "expires_at": "2026-05-31T10:00:00+09:00"},
            ),
        ],
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

    @extend_schema(
        operation_id="auth_logout",
        request=None,
        responses={204: None},
        summary=_("Revoke the token this request is made with"),
    )
    def post(self, request):
        member_token_revoke(token=request.auth)
        return Response(status=status.HTTP_204_NO_CONTENT)


class PasswordChangeSerializer(serializers.Serializer):
    current_password = StrictCharField(max_length=128, trim_whitespace=False)
    new_password = StrictCharField(
        max_length=128, trim_whitespace=False, help_text=_("Checked against the password rules.")
    )


class MePasswordView(APIView):
    permission_classes = [IsMember]

    @extend_schema(
        operation_id="me_password",
        request=PasswordChangeSerializer,
        responses={
            204: None,
            400: error_response(
                field_error(
                    "Wrong current password",
                    "current_password",
                    "The current password is wrong.",
                    code="wrong_password",
                ),
                error_example(
                    "Weak new password",
                    "weak_password",
                    "This password is too common.",
                    {"new_password": ["This password is too common."]},
                ),
            ),
        },
        summary=_("Change the app password; every other token of the member is revoked"),
        examples=[
            OpenApiExample(
                "Change",
                request_only=True,
                value={"current_password": "kumo-no-ue-2026", "new_password": "sora-iro-2027"},
            )
        ],
    )
    def post(self, request):
        data = PasswordChangeSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        member_password_change(member=_me(request), keep_token=request.auth, **data.validated_data)
        return Response(status=status.HTTP_204_NO_CONTENT)


def _me(request) -> Member:
    return Member.objects.select_related("tier", "home_store").get(pk=request.auth.member_id)


class MeView(APIView):
    permission_classes = [IsMember]

    @extend_schema(
        operation_id="me_retrieve",
        responses={200: MemberSerializer},
        summary=_("The caller's own profile, tier and points"),
        examples=[OpenApiExample("Me", value=MEMBER_EXAMPLE)],
    )
    def get(self, request):
        return Response(MemberSerializer(_me(request)).data)

    @extend_schema(
        operation_id="me_update",
        request=MemberUpdateSerializer,
        responses={200: MemberSerializer, 409: error_response(CONTACT_TAKEN)},
        summary=_("Update the caller's contact fields (empty string clears one)"),
        examples=[
            OpenApiExample("New phone", request_only=True, value={"phone": "080-9876-5432"}),
            OpenApiExample(
                "Updated", response_only=True, value={**MEMBER_EXAMPLE, "phone": "+818098765432"}
            ),
        ],
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

    @extend_schema(
        operation_id="me_points",
        responses={200: PointsOutSerializer},
        summary=_("The caller's points: balances and when they expire"),
        examples=[
            OpenApiExample(
                "Points",
                value={
                    "available": 1240,
                    "pending": 32,
                    "owed": 0,
                    "lifetime": 5480,
                    "expiring_soon": 300,
                    "expiring_soon_until": "2026-05-31T10:00:00+09:00",
                    "expiry_schedule": [
                        {"expires_at": "2026-05-20T23:59:59+09:00", "points": 300},
                        {"expires_at": "2027-03-14T23:59:59+09:00", "points": 940},
                    ],
                },
            )
        ],
    )
    def get(self, request):
        member = _me(request)
        now = timezone.now()
        balance = member_balance(member=member, now=now)
        body = {
            **balance.__dict__,
            "expiry_schedule": member_expiry_schedule(member=member, now=now),
        }
        return Response(PointsOutSerializer(body).data)


class EntryChallengeSerializer(serializers.Serializer):
    code = serializers.CharField(source="challenge.code")
    version = serializers.IntegerField(source="number")
    name = serializers.CharField()


class LedgerEntrySerializer(serializers.ModelSerializer):
    store = serializers.SlugRelatedField(
        source="purchase.store", slug_field="code", read_only=True, allow_null=True
    )
    challenge = EntryChallengeSerializer(
        source="challenge_version",
        read_only=True,
        allow_null=True,
        help_text="The challenge version that produced this entry, if one did.",
    )

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
            "challenge",
            "available_at",
            "expires_at",
        ]
        read_only_fields = fields


class LedgerFilter(django_filters.FilterSet):
    kind = django_filters.ChoiceFilter(choices=LedgerEntry._meta.get_field("kind").choices)
    state = django_filters.ChoiceFilter(choices=LedgerEntry._meta.get_field("state").choices)
    occurred_after = IsoDateTimeInRangeFilter(field_name="occurred_at", lookup_expr="gte")
    occurred_before = IsoDateTimeInRangeFilter(field_name="occurred_at", lookup_expr="lt")
    store = django_filters.CharFilter(field_name="purchase__store__code")

    class Meta:
        model = LedgerEntry
        fields = ["kind", "state", "occurred_after", "occurred_before", "store"]


@extend_schema_view(
    get=extend_schema(
        operation_id="me_ledger",
        summary=_("The caller's ledger, newest first"),
        examples=[
            OpenApiExample(
                "Ledger page",
                response_only=True,
                value={
                    "id": 90211,
                    "occurred_at": "2026-05-01T10:00:00+09:00",
                    "kind": "earn",
                    "state": "available",
                    "points": 32,
                    "source": "purchase",
                    "reason": "",
                    "reference": "POS-TYO01-20260501-0042",
                    "store": "TYO01",
                    "challenge": None,
                    "available_at": "2026-05-01T10:00:00+09:00",
                    "expires_at": "2027-05-01T10:00:00+09:00",
                },
            )
        ],
    )
)
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
            .select_related("purchase__store", "challenge_version__challenge")
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


@extend_schema_view(
    get=extend_schema(
        operation_id="me_coupons",
        summary=_("The caller's coupons, newest first"),
        examples=[
            OpenApiExample(
                "Coupons page",
                response_only=True,
                value={
                    **COUPON_EXAMPLE,
                    "name": "500 yen off your next visit",
                    "description": "Welcome gift; one per member.",
                    "kind": "amount_off",
                    "amount_off": 500,
                    "percent_off": None,
                },
            )
        ],
    )
)
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

    @extend_schema(
        operation_id="me_card",
        responses={200: CardSerializer},
        summary=_("What the member card shows: number, name, tier and barcode"),
        examples=[
            OpenApiExample(
                "Card",
                value={
                    "member_number": MEMBER_NUMBER,
                    "name": "Yamada Hanako",
                    "tier": "silver",
                    "barcode": {"format": "code128", "payload": MEMBER_NUMBER},
                },
            )
        ],
    )
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
