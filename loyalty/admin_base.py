"""Pieces the staff admin of every app shares: read-only registrations and the confirmation
pages through which staff call services (adjust points, issue, void, redeem, withdraw).

A confirmation page is a small form rendered with ``admin/service_form.html``; the view
validates it, calls the service and turns a domain error (``loyalty.errors.LoyaltyError``)
into a form error, so a refused operation shows why and changes nothing.
"""

from django import forms
from django.contrib import admin
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied
from django.db.models import Model
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from .errors import LoyaltyError

# A confirmation page lists every selected object; more than this is a mistake at a counter.
MAX_SELECTED = 500


class _NoWrites:
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyAdmin(_NoWrites, admin.ModelAdmin):
    """Log-like or money-like rows: anyone with the view permission may look, nobody may add,
    change or delete through the admin (not even a superuser); services write them."""


class ReadOnlyInline(_NoWrites):
    """Mixin for inlines that only show rows."""

    extra = 0
    max_num = 0
    can_delete = False


def require_perm(request: HttpRequest, perm: str) -> None:
    if not request.user.has_perm(perm):
        raise PermissionDenied


def add_service_error(form: forms.Form, exc: LoyaltyError) -> None:
    """Show a refused service call on the form: on the field it is about when the form has
    that field, otherwise above the form."""
    field = exc.field if exc.field in form.fields else None
    form.add_error(field, str(exc.message))


def render_service_form(
    request: HttpRequest,
    model_admin: admin.ModelAdmin,
    *,
    title: str,
    form: forms.Form,
    submit_label: str,
    cancel_url: str,
    original: Model | None = None,
    original_label: str | None = None,
    summary: list[tuple[str, object]] | None = None,
    selected: list[Model] | None = None,
    action: str | None = None,
    intro: str = "",
) -> TemplateResponse:
    """Render a confirmation page. With `action`, the page posts back to the changelist as
    Django's delete confirmation does (the selected ids, the action name and ``post=yes``)."""
    opts = model_admin.model._meta
    if original is not None and original_label is None:
        original_label = str(original)
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": opts,
        "app_label": opts.app_label,
        "title": title,
        "subtitle": original_label,
        "original": original,
        "original_label": original_label,
        "form": form,
        "media": model_admin.media + form.media,
        "submit_label": submit_label,
        "cancel_url": cancel_url,
        "summary": summary or [],
        "selected": selected or [],
        "action": action,
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "intro": intro,
    }
    request.current_app = model_admin.admin_site.name
    return TemplateResponse(request, "admin/service_form.html", context)


def change_link(obj: Model | None, label: object = None) -> str:
    """A link to an object's admin page (for list columns)."""
    if obj is None:
        return "-"
    opts = obj._meta
    url = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])
    return format_html('<a href="{}">{}</a>', url, label if label is not None else obj)


def too_many_selected(model_admin: admin.ModelAdmin, request: HttpRequest, count: int) -> bool:
    if count <= MAX_SELECTED:
        return False
    model_admin.message_user(
        request,
        _("Select at most %(max)d rows for this action (%(count)d selected).")
        % {"max": MAX_SELECTED, "count": count},
        level="error",
    )
    return True
