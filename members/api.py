"""Member endpoints for integrations (API key with members:read / members:write)."""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from loyalty.api.common import IDEMPOTENCY_PARAMETER, MEMBER_NUMBER, REPLAY_HEADER
from loyalty.api.fields import StrictCharField, StrictSlugRelatedField
from loyalty.api.idempotency import idempotent
from loyalty.api.schema import IDEMPOTENCY_CONFLICT, error_example, error_response, field_error

from .authentication import scoped
from .contact import normalize_phone
from .models import Member, Store, validate_birth_date
from .services import member_register, member_update_contact, member_withdraw


class PointsSerializer(serializers.Serializer):
    available = serializers.IntegerField(source="points_available")
    pending = serializers.IntegerField(source="points_pending")
    owed = serializers.IntegerField(source="points_debt")
    lifetime = serializers.IntegerField(source="points_lifetime")


class MemberSerializer(serializers.ModelSerializer):
    home_store = serializers.SlugRelatedField(slug_field="code", read_only=True, allow_null=True)
    tier = serializers.SlugRelatedField(slug_field="code", read_only=True, allow_null=True)
    points = PointsSerializer(source="*", read_only=True)

    class Meta:
        model = Member
        fields = [
            "member_number",
            "name",
            "email",
            "phone",
            "birth_date",
            "gender",
            "home_store",
            "joined_at",
            "status",
            "tier",
            "points",
        ]
        read_only_fields = fields


def _valid_phone(value):
    try:
        return normalize_phone(value)
    except DjangoValidationError as exc:
        raise serializers.ValidationError(exc.messages) from None


class MemberRegisterSerializer(serializers.Serializer):
    name = StrictCharField(max_length=200, required=False, allow_blank=True, default="")
    email = serializers.EmailField(required=False, allow_null=True, default=None)
    phone = StrictCharField(max_length=32, required=False, allow_null=True, default=None)
    birth_date = serializers.DateField(
        required=False, allow_null=True, default=None, validators=[validate_birth_date]
    )
    gender = serializers.ChoiceField(
        choices=Member.Gender.choices, required=False, default=Member.Gender.UNSPECIFIED
    )
    home_store = StrictSlugRelatedField(
        slug_field="code",
        queryset=Store.objects.filter(is_active=True),
        required=False,
        allow_null=True,
        default=None,
    )
    password = StrictCharField(
        write_only=True,
        required=False,
        max_length=128,
        trim_whitespace=False,
        help_text=_(
            "Creates the member's app login (log in with the member number or e-mail); "
            "checked against the password rules."
        ),
    )

    def validate_phone(self, value):
        return _valid_phone(value)


class MemberUpdateSerializer(serializers.Serializer):
    name = StrictCharField(max_length=200, required=False, allow_blank=True)
    email = serializers.EmailField(required=False, allow_blank=True)
    phone = StrictCharField(max_length=32, required=False, allow_blank=True)

    def validate_phone(self, value):
        return _valid_phone(value) or ""


def _member(member_number: str) -> Member:
    if not member_number.isascii() or not member_number.isdigit():
        raise Http404  # never a member number; and PostgreSQL refuses some (NUL) outright
    return get_object_or_404(
        Member.objects.select_related("tier", "home_store"), member_number=member_number
    )


MEMBER_NUMBER_PATH = OpenApiParameter(
    "member_number",
    str,
    OpenApiParameter.PATH,
    description=_("16 digits, the last a Luhn check digit."),
    examples=[OpenApiExample("Member number", value=MEMBER_NUMBER)],
)

MEMBER_EXAMPLE = {
    "member_number": MEMBER_NUMBER,
    "name": "Yamada Hanako",
    "email": "hanako@example.com",
    "phone": "+819012345678",
    "birth_date": "1990-04-12",
    "gender": "female",
    "home_store": "TYO01",
    "joined_at": "2026-05-01T10:00:00+09:00",
    "status": "active",
    "tier": "silver",
    "points": {"available": 1240, "pending": 32, "owed": 0, "lifetime": 5480},
}
NEW_MEMBER_EXAMPLE = {
    **MEMBER_EXAMPLE,
    "tier": "regular",
    "points": {"available": 0, "pending": 0, "owed": 0, "lifetime": 0},
}
CONTACT_TAKEN = field_error(
    "E-mail taken",
    "email",
    "Another member already uses this email address.",
    code="contact_taken",
)
WEAK_PASSWORD = error_example(
    "Weak password",
    "weak_password",
    "This password is too short. It must contain at least 8 characters.",
    {
        "password": [
            "This password is too short. It must contain at least 8 characters.",
            "This password is too common.",
        ]
    },
)


class MemberListCreateView(APIView):
    permission_classes = [scoped("members:write")]

    @extend_schema(
        operation_id="members_register",
        request=MemberRegisterSerializer,
        responses={
            201: MemberSerializer,
            400: error_response(WEAK_PASSWORD),
            409: error_response(CONTACT_TAKEN, IDEMPOTENCY_CONFLICT),
        },
        parameters=[IDEMPOTENCY_PARAMETER, REPLAY_HEADER],
        summary=_("Register a member"),
        examples=[
            OpenApiExample(
                "Registration",
                request_only=True,
                value={
                    "name": "Yamada Hanako",
                    "email": "hanako@example.com",
                    "phone": "090-1234-5678",
                    "birth_date": "1990-04-12",
                    "gender": "female",
                    "home_store": "TYO01",
                    "password": "kumo-no-ue-2026",
                },
            ),
            OpenApiExample("Registered", response_only=True, value=NEW_MEMBER_EXAMPLE),
        ],
    )
    def post(self, request):
        def register():
            data = MemberRegisterSerializer(data=request.data)
            data.is_valid(raise_exception=True)
            member = member_register(**data.validated_data)
            return Response(
                MemberSerializer(_member(member.member_number)).data, status=status.HTTP_201_CREATED
            )

        return idempotent(request, register)


class MemberDetailView(APIView):
    def get_permissions(self):
        scope = "members:read" if self.request.method == "GET" else "members:write"
        return [scoped(scope)()]

    @extend_schema(
        operation_id="members_retrieve",
        parameters=[MEMBER_NUMBER_PATH],
        responses={200: MemberSerializer},
        summary=_("A member's profile, tier and points"),
        examples=[OpenApiExample("Member", value=MEMBER_EXAMPLE)],
    )
    def get(self, request, member_number: str):
        return Response(MemberSerializer(_member(member_number)).data)

    @extend_schema(
        operation_id="members_update",
        parameters=[MEMBER_NUMBER_PATH],
        request=MemberUpdateSerializer,
        responses={200: MemberSerializer, 409: error_response(CONTACT_TAKEN)},
        summary=_("Update a member's contact fields (empty string clears one)"),
        examples=[
            OpenApiExample(
                "New phone, e-mail cleared",
                request_only=True,
                value={"phone": "080-9876-5432", "email": ""},
            ),
            OpenApiExample(
                "Updated",
                response_only=True,
                value={**MEMBER_EXAMPLE, "phone": "+818098765432", "email": None},
            ),
        ],
    )
    def patch(self, request, member_number: str):
        member = _member(member_number)
        data = MemberUpdateSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        member_update_contact(member=member, **data.validated_data)
        return Response(MemberSerializer(_member(member_number)).data)


class MemberWithdrawView(APIView):
    permission_classes = [scoped("members:write")]

    @extend_schema(
        operation_id="members_withdraw",
        parameters=[MEMBER_NUMBER_PATH],
        request=None,
        responses={200: MemberSerializer},
        summary=_("Withdraw a member: personal data goes, the books stay (a retry is harmless)"),
        examples=[
            OpenApiExample(
                "Withdrawn",
                value={
                    **MEMBER_EXAMPLE,
                    "name": "",
                    "email": None,
                    "phone": None,
                    "birth_date": None,
                    "gender": "unspecified",
                    "status": "withdrawn",
                },
            )
        ],
    )
    def post(self, request, member_number: str):
        member_withdraw(member=_member(member_number))
        return Response(MemberSerializer(_member(member_number)).data)
