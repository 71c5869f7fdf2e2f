"""The OpenAPI schema's error responses, in one place.

`ApiAutoSchema` (settings: REST_FRAMEWORK["DEFAULT_SCHEMA_CLASS"]) adds to every operation the
errors it can answer, each as the one `Error` component with an example, from what the view
declares anyway:

- 400 when it takes input (a body, query parameters or a required header);
- 401 and 403 when it needs credentials (and says which scheme: API key or member token);
- 404 when it looks something up by path, or pages through a list;
- 429 when it is throttled (with its `Retry-After` header).

Views add what only they know with `error_response(...)`: their 409 conflicts, and extra 400 /
403 examples, which are merged with the generated ones.
"""

import uritemplate
from django.utils.translation import gettext_lazy as _
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import force_instance, is_serializer
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse
from rest_framework import permissions, serializers
from rest_framework.settings import api_settings

from members.authentication import IsMember

from .pagination import Page


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField(
        help_text=_("Stable, machine-readable: invalid, not_authenticated, contact_taken, ...")
    )
    message = serializers.CharField(help_text=_("For people; may be translated."))
    fields = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        help_text=_("The offending input (body field, query parameter or header) and why."),
    )


class ErrorSerializer(serializers.Serializer):
    """Every API error: validation, authentication, permission, not found, conflict, throttle."""

    error = ErrorDetailSerializer()


def error_example(
    name: str, code: str, message: str, fields: dict[str, list[str]] | None = None
) -> OpenApiExample:
    return OpenApiExample(
        name, value={"error": {"code": code, "message": message, "fields": fields or {}}}
    )


def field_error(name: str, field: str, message: str, *, code: str = "invalid") -> OpenApiExample:
    """An error about one input field; `message` as the API words it: "field: message"."""
    text = f"{field}: {message}" if code == "invalid" else message
    return error_example(name, code, text, {field: [message]})


def error_response(*examples: OpenApiExample, description: str = "") -> OpenApiResponse:
    return OpenApiResponse(ErrorSerializer, description=description, examples=list(examples))


DESCRIPTIONS = {
    400: _("Invalid input: `fields` names each offending field, query parameter or header."),
    401: _("Missing, unknown, revoked or expired credentials."),
    403: _(
        "These credentials may not do this: an API key without the scope, a store-bound key "
        "acting for another store, or the wrong kind of credential for the endpoint."
    ),
    404: _("Nothing is found at this address (or the page is past the end)."),
    409: _("The request conflicts with the current state; nothing was changed."),
    429: _("Too many requests for this caller; retry after `Retry-After` seconds."),
}

IDEMPOTENCY_HEADER = "Idempotency-Key"
MISSING_IDEMPOTENCY_KEY = field_error(
    "Missing Idempotency-Key",
    IDEMPOTENCY_HEADER,
    "An Idempotency-Key header (1-255 printable characters) is required.",
)
IDEMPOTENCY_CONFLICT = field_error(
    "Idempotency-Key reused",
    IDEMPOTENCY_HEADER,
    "This reference was already used for a different request.",
    code="idempotency_conflict",
)
THROTTLED = error_example(
    "Throttled", "throttled", "Request was throttled. Expected available in 42 seconds."
)
NOT_FOUND = error_example("Not found", "not_found", "Not found.")
INVALID_PAGE = error_example("Invalid page", "not_found", "Invalid page.")
INVALID_PAGE_SIZE = field_error("Invalid page size", "page_size", "Enter a positive integer.")
NOT_AUTHENTICATED = error_example(
    "No credentials", "not_authenticated", "Authentication credentials were not provided."
)
BAD_API_KEY = error_example(
    "Unknown or revoked API key", "authentication_failed", "Invalid or revoked API key."
)
BAD_MEMBER_TOKEN = error_example(
    "Expired or revoked token", "authentication_failed", "Invalid, expired or revoked token."
)

RETRY_AFTER = OpenApiParameter(
    "Retry-After",
    int,
    OpenApiParameter.HEADER,
    response=[429],
    description=_("Seconds until the next request is allowed."),
)
WWW_AUTHENTICATE = OpenApiParameter(
    "WWW-Authenticate",
    str,
    OpenApiParameter.HEADER,
    response=[401],
    required=True,
    description=_("The accepted schemes: `Api-Key` and `Bearer`."),
)

# Sample values for the generated 400 example, by the first field it names.
_INVALID_BY_FIELD_TYPE = (
    (serializers.EmailField, "Enter a valid email address."),
    (serializers.ChoiceField, '"unknown" is not a valid choice.'),
    (serializers.DateField, "Date has wrong format. Use one of these formats instead: YYYY-MM-DD."),
    (serializers.IntegerField, "A valid integer is required."),
)


class ApiAutoSchema(AutoSchema):
    def get_override_parameters(self):
        return [*super().get_override_parameters(), RETRY_AFTER, WWW_AUTHENTICATE]

    def get_auth(self):
        """Name the one scheme an endpoint accepts, not every configured authenticator."""
        auth = super().get_auth()
        kinds = {type(p) for p in self.view.get_permissions()}
        if IsMember in kinds:
            return [a for a in auth if "ApiKey" not in a]
        if any(getattr(kind, "required_scopes", None) for kind in kinds):
            return [a for a in auth if "MemberToken" not in a]
        return auth

    def get_operation(self, path, path_regex, path_prefix, method, registry):
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return None
        # django-filter skips a filter given an empty value (`?kind=`): say so.
        filters = {name for name, _filter in self._query_filters()}
        for parameter in operation.get("parameters", []):
            if parameter["in"] == "query" and parameter["name"] in filters:
                parameter["allowEmptyValue"] = True
        needs = self._credential_note()
        if not needs:
            return operation
        description = "\n\n".join(p for p in (operation.pop("description", ""), needs) if p)
        # Keep the usual order: the description right after the summary.
        ordered = {}
        for key, value in operation.items():
            if key not in ("operationId", "summary") and "description" not in ordered:
                ordered["description"] = description
            ordered[key] = value
        return ordered

    def _get_response_bodies(self, direction="response"):
        bodies = super()._get_response_bodies(direction)
        declared = self.get_response_serializers()
        declared = declared if isinstance(declared, dict) else {}
        declared = {int(code): response for code, response in declared.items()}
        for code, generated in self._error_responses().items():
            response = _merged(declared.get(code), generated)
            bodies[str(code)] = self._get_response_for_code(
                response, str(code), direction=direction
            )
        for code, response in declared.items():
            if code in DESCRIPTIONS and _is_error(response) and not response.description:
                response = OpenApiResponse(
                    ErrorSerializer, description=DESCRIPTIONS[code], examples=response.examples
                )
                bodies[str(code)] = self._get_response_for_code(
                    response, str(code), direction=direction
                )
        return dict(sorted(bodies.items()))

    # --- what the view tells about itself ----------------------------------------------------

    def _requires_credentials(self) -> bool:
        return not any(isinstance(p, permissions.AllowAny) for p in self.view.get_permissions())

    def _scopes(self) -> tuple[str, ...]:
        for permission in self.view.get_permissions():
            if getattr(permission, "required_scopes", None):
                return permission.required_scopes
        return ()

    def _for_members(self) -> bool:
        return any(isinstance(p, IsMember) for p in self.view.get_permissions())

    def _credential_note(self) -> str:
        if self._for_members():
            return str(_("Needs a member-app token (`Authorization: Bearer mt_...`)."))
        scopes = self._scopes()
        if scopes:
            return str(_("Needs an API key (`Authorization: Api-Key lk_...`) with scope %s.")) % (
                ", ".join(f"`{scope}`" for scope in scopes)
            )
        return ""

    def _body_serializer(self):
        if self.method not in ("POST", "PUT", "PATCH"):
            return None
        serializer = force_instance(self.get_request_serializer())
        return serializer if is_serializer(serializer) else None

    def _query_filters(self):
        filterset = getattr(self.view, "filterset_class", None)
        return list(filterset.base_filters.items()) if filterset is not None else []

    def _paginated(self) -> bool:
        return self.method == "GET" and isinstance(self._get_paginator(), Page)

    def _required_headers(self) -> list[str]:
        return [
            p.name
            for p in self.get_override_parameters()
            if isinstance(p, OpenApiParameter)
            and not p.response
            and p.location == OpenApiParameter.HEADER
            and p.required
        ]

    # --- the generated responses -------------------------------------------------------------

    def _error_responses(self) -> dict[int, OpenApiResponse]:
        errors = {}
        invalid = self._invalid_examples()
        if invalid:
            errors[400] = error_response(*invalid)
        if self._requires_credentials():
            bad = BAD_MEMBER_TOKEN if self._for_members() else BAD_API_KEY
            errors[401] = error_response(NOT_AUTHENTICATED, bad)
            errors[403] = error_response(self._forbidden_example())
        if uritemplate.variables(self.path):
            errors[404] = error_response(NOT_FOUND)
        elif self._paginated():
            errors[404] = error_response(INVALID_PAGE)
        if self.view.get_throttles():
            errors[429] = error_response(THROTTLED)
        return {
            code: OpenApiResponse(
                ErrorSerializer, description=DESCRIPTIONS[code], examples=response.examples
            )
            for code, response in errors.items()
        }

    def _invalid_examples(self) -> list[OpenApiExample]:
        examples = []
        serializer = self._body_serializer()
        if serializer is not None:
            field, message = _first_invalid_field(serializer, partial=self.method == "PATCH")
            if field:
                examples.append(field_error("Invalid field", field, message))
            else:
                examples.append(
                    error_example(
                        "Not an object",
                        "invalid",
                        "Invalid data. Expected a dictionary, but got list.",
                        {
                            api_settings.NON_FIELD_ERRORS_KEY: [
                                "Invalid data. Expected a dictionary, but got list."
                            ]
                        },
                    )
                )
        for name, query_filter in self._query_filters():
            choices = query_filter.extra.get("choices")
            if choices:
                message = "Select a valid choice. unknown is not one of the available choices."
                examples.append(field_error("Invalid filter", name, message))
                break
        if self._paginated():
            examples.append(INVALID_PAGE_SIZE)
        if IDEMPOTENCY_HEADER in self._required_headers():
            examples.append(MISSING_IDEMPOTENCY_KEY)
        return examples

    def _forbidden_example(self) -> OpenApiExample:
        if self._for_members():
            return error_example("Not a member token", "permission_denied", str(IsMember.message))
        scopes = ", ".join(self._scopes())
        return error_example(
            "Missing scope", "permission_denied", f"This API key lacks the scope(s): {scopes}."
        )


def _first_invalid_field(serializer, *, partial: bool) -> tuple[str, str]:
    writable = [(name, f) for name, f in serializer.fields.items() if not f.read_only]
    if not partial:
        for name, field in writable:
            if field.required:
                return name, "This field is required."
    for field_type, message in _INVALID_BY_FIELD_TYPE:
        for name, field in writable:
            if isinstance(field, field_type):
                return name, message
    if writable:
        return writable[0][0], "Not a valid string."
    return "", ""


def _is_error(response) -> bool:
    return isinstance(response, OpenApiResponse) and response.response is ErrorSerializer


def _merged(declared, generated: OpenApiResponse) -> OpenApiResponse:
    """The generated response with the view's own examples for the same status first."""
    if not _is_error(declared):
        return generated if declared is None else declared
    names = {example.name for example in declared.examples}
    return OpenApiResponse(
        ErrorSerializer,
        description=declared.description or generated.description,
        examples=[*declared.examples, *(e for e in generated.examples if e.name not in names)],
    )
