"""API authentication: integration keys (`Authorization: Api-Key <key>`) and their scopes."""

from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, permissions

from .api_keys import api_key_verify
from .member_tokens import member_token_verify
from .models import ApiKey, Member, MemberToken


@dataclass(frozen=True)
class Integration:
    """request.user for a call made with an API key."""

    key: ApiKey
    is_authenticated: bool = True
    is_anonymous: bool = False

    @property
    def pk(self):
        return f"key:{self.key.pk}"


class ApiKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Api-Key"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header.startswith(self.keyword + " "):
            return None
        key = api_key_verify(header[len(self.keyword) + 1 :].strip())
        if key is None:
            raise exceptions.AuthenticationFailed(_("Invalid or revoked API key."))
        return Integration(key=key), key

    def authenticate_header(self, request):
        return self.keyword


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "members.authentication.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Api-Key <key>`; keys are created in the admin or with "
            "`manage.py create_api_key` and carry scopes.",
        }


def scoped(*scopes: str) -> type[permissions.BasePermission]:
    """A permission class: the call is made with an API key holding every one of `scopes`."""

    class HasScopes(permissions.BasePermission):
        message = _("This API key lacks the scope(s): %(scopes)s.") % {"scopes": ", ".join(scopes)}
        required_scopes = scopes

        def has_permission(self, request, view):
            key = request.auth if isinstance(request.auth, ApiKey) else None
            return key is not None and set(scopes) <= set(key.scopes)

    HasScopes.__name__ = "HasScopes_" + "_".join(s.replace(":", "_") for s in scopes)
    return HasScopes


@dataclass(frozen=True)
class MemberPrincipal:
    """request.user for a call made with a member-app token."""

    member: Member
    is_authenticated: bool = True
    is_anonymous: bool = False

    @property
    def pk(self):
        return f"member:{self.member.pk}"


class MemberTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header.startswith(self.keyword + " "):
            return None
        token = member_token_verify(header[len(self.keyword) + 1 :].strip())
        if token is None:
            raise exceptions.AuthenticationFailed(_("Invalid, expired or revoked token."))
        return MemberPrincipal(member=token.member), token

    def authenticate_header(self, request):
        return self.keyword


class MemberTokenAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "members.authentication.MemberTokenAuthentication"
    name = "MemberToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A member-app token from `POST /api/v1/auth/token`.",
        }


class IsMember(permissions.BasePermission):
    """The call is made by a member (a member-app token), never an integration key."""

    message = _("This endpoint is for members' app tokens.")

    def has_permission(self, request, view):
        return isinstance(request.auth, MemberToken)
