"""Member endpoints for integrations (API key with members:read / members:write)."""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from loyalty.api.idempotency import HEADER, idempotent

from .authentication import scoped
from .contact import normalize_phone
from .models import Member, Store
from .services import member_register, member_update_contact, member_withdraw


class PointsSerializer(serializers.Serializer):
    available = serializers.IntegerField(source="points_available")
    pending = serializers.IntegerField(source="points_pending")
    owed = serializers.IntegerField(source="points_debt")
    lifetime = serializers.IntegerField(source="points_lifetime")


class MemberSerializer(serializers.ModelSerializer):
    home_store = serializers.SlugRelatedField(slug_field="code", read_only=True)
    tier = serializers.SlugRelatedField(slug_field="code", read_only=True)
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
    name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    email = serializers.EmailField(required=False, allow_null=True, default=None)
    phone = serializers.CharField(max_length=32, required=False, allow_null=True, default=None)
    birth_date = serializers.DateField(required=False, allow_null=True, default=None)
    gender = serializers.ChoiceField(
        choices=Member.Gender.choices, required=False, default=Member.Gender.UNSPECIFIED
    )
    home_store = serializers.SlugRelatedField(
        slug_field="code",
        queryset=Store.objects.filter(is_active=True),
        required=False,
        allow_null=True,
        default=None,
    )

    def validate_phone(self, value):
        return _valid_phone(value)


class MemberUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    email = serializers.EmailField(required=False, allow_blank=True)
    phone = serializers.CharField(max_length=32, required=False, allow_blank=True)

    def validate_phone(self, value):
        return _valid_phone(value) or ""


def _member(member_number: str) -> Member:
    return get_object_or_404(
        Member.objects.select_related("tier", "home_store"), member_number=member_number
    )


IDEMPOTENCY_PARAMETER = OpenApiParameter(
    HEADER,
    str,
    OpenApiParameter.HEADER,
    required=True,
    description=_(
        "Unique per logical request; a retry with the same key returns the first answer."
    ),
)


class MemberListCreateView(APIView):
    permission_classes = [scoped("members:write")]

    @extend_schema(
        operation_id="members_register",
        request=MemberRegisterSerializer,
        responses={201: MemberSerializer},
        parameters=[IDEMPOTENCY_PARAMETER],
        summary=_("Register a member"),
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

    @extend_schema(operation_id="members_retrieve", responses={200: MemberSerializer})
    def get(self, request, member_number: str):
        return Response(MemberSerializer(_member(member_number)).data)

    @extend_schema(
        operation_id="members_update",
        request=MemberUpdateSerializer,
        responses={200: MemberSerializer},
        summary=_("Update a member's contact fields (empty string clears one)"),
    )
    def patch(self, request, member_number: str):
        member = _member(member_number)
        data = MemberUpdateSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        member_update_contact(member=member, **data.validated_data)
        return Response(MemberSerializer(_member(member_number)).data)


class MemberWithdrawView(APIView):
    permission_classes = [scoped("members:write")]

    @extend_schema(operation_id="members_withdraw", request=None, responses={200: MemberSerializer})
    def post(self, request, member_number: str):
        member_withdraw(member=_member(member_number))
        return Response(MemberSerializer(_member(member_number)).data)
