"""Lookups shared by the integration endpoints: body references become 400s naming the field."""

from contextlib import contextmanager

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import OpenApiExample, OpenApiParameter
from rest_framework import exceptions

from loyalty.api.idempotency import HEADER
from loyalty.api.schema import error_example, field_error
from loyalty.errors import LoyaltyError
from members.models import ApiKey, Member, Store


def member_from_body(number: str, *, field: str = "member_number") -> Member:
    member = Member.objects.select_related("tier").filter(member_number=number).first()
    if member is None:
        raise exceptions.ValidationError({field: [_("No member has this number.")]})
    return member


def store_for_key(key: ApiKey, code: str | None, *, field: str = "store_code") -> Store | None:
    """The store a call names, checked against a store-bound key (which may act only there)."""
    store = None
    if code:
        store = Store.objects.filter(code=code).first()
        if store is None:
            raise exceptions.ValidationError({field: [_("No store has this code.")]})
    if key.store_id is not None and (store is None or store.pk != key.store_id):
        raise exceptions.PermissionDenied(
            _("This API key may act only for store %(code)s.") % {"code": key.store.code}
        )
    return store


IDEMPOTENCY_PARAMETER = OpenApiParameter(
    HEADER,
    str,
    OpenApiParameter.HEADER,
    required=True,
    description=gettext_lazy(
        "Unique per logical request; a retry with the same key returns the first answer."
    ),
    examples=[OpenApiExample("Key", value="3f0c2a8e-5b1d-4d6f-9a7e-1c2b3d4e5f60")],
)
REPLAY_HEADER = OpenApiParameter(
    "Idempotent-Replay",
    str,
    OpenApiParameter.HEADER,
    response=[200, 201],
    enum=["true"],
    description=gettext_lazy(
        "Present (`true`) when this is the stored answer to an earlier request."
    ),
)

# Example values shared by the endpoints' schema examples.
MEMBER_NUMBER = "4512093847561238"
STORE_DENIED = error_example(
    "Other store", "permission_denied", "This API key may act only for store TYO01."
)
UNKNOWN_MEMBER = field_error("Unknown member", "member_number", "No member has this number.")


@contextmanager
def api_field_names(**renames: str):
    """Services name their own arguments (order_reference); the API names its fields (order_id)."""
    try:
        yield
    except LoyaltyError as exc:
        if exc.field in renames:
            exc.field = renames[exc.field]
        raise
