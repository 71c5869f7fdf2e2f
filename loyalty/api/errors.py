"""One JSON error format for every API error:

{"error": {"code": "...", "message": "...", "fields": {"field": ["message", ...]}}}
"""

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse
from django.utils.translation import gettext as _
from django.views import defaults
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler as drf_exception_handler

from loyalty.errors import LoyaltyError


def error_body(code: str, message: str, fields: dict | None = None) -> dict:
    return {"error": {"code": code, "message": message, "fields": fields or {}}}


def field_path(path: str, key: str | int) -> str:
    """The path to `key` under `path`, as errors name nested input: `lines[0].quantity` (an
    index in brackets, a name after a dot)."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else str(key)


def error_fields(detail, path: str = "") -> dict[str, list[str]]:
    """DRF's nested error detail as {"field": [...]} with paths for nested input:
    `lines[0].quantity`, the way the services name them too."""
    if isinstance(detail, dict):
        fields = {}
        for key, value in detail.items():  # int keys: a ListField's errors, by index
            # A nested object's own errors (not of one of its fields) belong to its path:
            # `lines`, not `lines.non_field_errors`.
            whole = key == api_settings.NON_FIELD_ERRORS_KEY and path
            fields.update(error_fields(value, path if whole else field_path(path, key)))
        return fields
    if isinstance(detail, list):
        if any(isinstance(item, dict | list) for item in detail):
            # A nested list serializer: one entry per item, {} for the valid ones.
            fields = {}
            for index, item in enumerate(detail):
                fields.update(error_fields(item, field_path(path, index)))
            return fields
        return {path or api_settings.NON_FIELD_ERRORS_KEY: [str(item) for item in detail]}
    return {path or api_settings.NON_FIELD_ERRORS_KEY: [str(detail)]}


def api_exception_handler(exc, context):
    if isinstance(exc, LoyaltyError):
        fields = {exc.field: [str(m) for m in exc.messages]} if exc.field else {}
        response = Response(error_body(exc.code, str(exc.message), fields), status=exc.status)
    else:
        response = _drf_error(exc, context)
    if response is not None and response.status_code == status.HTTP_401_UNAUTHORIZED:
        response["WWW-Authenticate"] = 'Api-Key realm="api", Bearer realm="api"'
    return response


def _drf_error(exc, context):
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(
            exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        )
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        fields = error_fields(exc.detail)
        first = next(iter(fields.items()), ("", [""]))
        message = f"{first[0]}: {first[1][0]}" if first[0] else "Invalid input."
        response.data = error_body("invalid", message, fields)
    else:
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        code = exc.get_codes() if isinstance(exc.get_codes(), str) else "error"
        response.data = error_body(code, str(detail))
    return response


# Django's own 404 and 500 pages are HTML; under /api/ they answer in the one error format too
# (an address no route matches, an unhandled exception). Set in loyalty/urls.py.
def _is_api(request) -> bool:
    return request.path.startswith("/api/")


def page_not_found(request, exception):
    if _is_api(request):
        return JsonResponse(error_body("not_found", _("Not found.")), status=404)
    return defaults.page_not_found(request, exception)


@csrf_exempt  # whatever the method: there is nothing here to protect
def api_not_found(request, *args, **kwargs):
    """The last route under /api/: an address no API route matches answers the JSON 404 with
    DEBUG on too (Django would show its debug page, listing every route)."""
    return JsonResponse(error_body("not_found", _("Not found.")), status=404)


def server_error(request):
    if _is_api(request):
        return JsonResponse(error_body("server_error", _("A server error occurred.")), status=500)
    return defaults.server_error(request)
