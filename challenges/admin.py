"""Admin for marketers and staff: challenges (a JSON definition, saved as a new version through
the services), event types, the verification queue, events and weather.

Nothing here saves a challenge version, an event or an award directly: versions are
immutable and made by `challenge_create` / `challenge_revise`, decisions by
`verification_decide`.
"""

import json

from django import forms
from django.contrib import admin
from django.core.serializers.json import DjangoJSONEncoder
from django.utils.translation import gettext_lazy as _
from rest_framework.exceptions import ValidationError as ApiValidationError

from loyalty.admin_base import ReadOnlyAdmin
from loyalty.api.errors import error_fields

from .definitions import definition_from_version
from .intake import schema_check
from .models import Challenge, ChallengeVersion, Event, EventType, Verification, WeatherObservation
from .presets import PRESETS
from .services import (
    TRANSITIONS,
    challenge_create,
    challenge_revise,
    challenge_set_status,
    definition_validate,
)
from .verification import verification_decide


def _messages(detail) -> list[str]:
    """A definition's validation errors as "path: message" lines for the form."""
    return [f"{path}: {m}" for path, messages in error_fields(detail).items() for m in messages]


class ChallengeForm(forms.ModelForm):
    definition = forms.JSONField(
        label=_("definition"),
        encoder=DjangoJSONEncoder,
        widget=forms.Textarea(attrs={"rows": 24, "cols": 100, "style": "font-family: monospace"}),
        help_text=_(
            "The challenge as JSON (docs/challenges.md). Saving a changed definition creates a "
            "new version; what earlier versions granted keeps pointing at them."
        ),
        required=False,
    )
    start_from_preset = forms.ChoiceField(
        label=_("start from preset"),
        required=False,
        choices=[("", "-")] + [(k, p.title) for k, p in PRESETS.items()],
        help_text=_("Only when adding: fills an empty definition from the preset's defaults."),
    )

    class Meta:
        model = Challenge
        fields = ["code", "status"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk and self.instance.current_version_id:
            self.initial["definition"] = definition_from_version(self.instance.current_version)

    def clean(self):
        cleaned = super().clean()
        definition = cleaned.get("definition")
        if not definition and cleaned.get("start_from_preset"):
            preset = PRESETS[cleaned["start_from_preset"]]
            params = {k: v if v is not None else "CHANGE-ME" for k, v in preset.params.items()}
            definition = json.loads(json.dumps(preset.definition(**params), cls=DjangoJSONEncoder))
            cleaned["definition"] = definition
        if not definition:
            raise forms.ValidationError({"definition": _("A definition (or a preset) is needed.")})
        try:
            definition_validate(definition)
        except ApiValidationError as exc:
            raise forms.ValidationError({"definition": _messages(exc.detail)}) from None
        status = cleaned.get("status")
        old = self.instance.status if self.instance.pk else Challenge.Status.DRAFT
        if status and status != old and status not in TRANSITIONS[old]:
            raise forms.ValidationError(
                {
                    "status": _("A %(old)s challenge can't become %(new)s.")
                    % {"old": old, "new": status}
                }
            )
        return cleaned


@admin.register(Challenge)
class ChallengeAdmin(admin.ModelAdmin):
    form = ChallengeForm
    list_display = ["code", "name", "status", "version", "points_granted", "awards"]
    list_filter = ["status"]
    search_fields = ["code", "current_version__name"]
    readonly_fields = ["versions_list"]
    fields = ["code", "status", "start_from_preset", "definition", "versions_list"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("current_version", "counter")

    @admin.display(description=_("name"))
    def name(self, obj):
        return obj.current_version.name if obj.current_version_id else "-"

    @admin.display(description=_("version"))
    def version(self, obj):
        return obj.current_version.number if obj.current_version_id else "-"

    @admin.display(description=_("points granted"))
    def points_granted(self, obj):
        return obj.counter.points_granted

    @admin.display(description=_("times fired"))
    def awards(self, obj):
        return obj.counter.awards

    @admin.display(description=_("versions"))
    def versions_list(self, obj):
        if not obj.pk:
            return "-"
        return ", ".join(
            f"v{v.number} {v.created_at:%Y-%m-%d %H:%M}" for v in obj.versions.order_by("number")
        )

    def save_model(self, request, obj, form, change):
        definition = form.cleaned_data["definition"]
        status = form.cleaned_data["status"]
        if not change:
            saved = challenge_create(
                code=obj.code,
                definition=definition,
                status=status,
                preset=form.cleaned_data.get("start_from_preset") or "",
                created_by=request.user,
            )
        else:
            saved = Challenge.objects.get(pk=obj.pk)
            if definition != definition_from_version(saved.current_version):
                challenge_revise(challenge=saved, definition=definition, created_by=request.user)
            saved = challenge_set_status(challenge=saved, status=status)
        obj.pk = saved.pk
        obj.refresh_from_db()

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(ChallengeVersion)
class ChallengeVersionAdmin(ReadOnlyAdmin):
    list_display = [
        "challenge",
        "number",
        "name",
        "starts_at",
        "ends_at",
        "created_at",
        "created_by",
    ]
    list_filter = ["challenge"]


class EventTypeForm(forms.ModelForm):
    class Meta:
        model = EventType
        fields = ["code", "name", "description", "member_app", "payload_schema"]

    def clean_payload_schema(self):
        schema = self.cleaned_data["payload_schema"] or {}
        errors = schema_check(schema) if isinstance(schema, dict) else [_("Must be an object.")]
        if errors:
            raise forms.ValidationError(errors)
        return schema


@admin.register(EventType)
class EventTypeAdmin(admin.ModelAdmin):
    form = EventTypeForm
    list_display = ["code", "name", "builtin", "member_app"]

    def get_readonly_fields(self, request, obj=None):
        return ["code", "payload_schema"] if obj is not None and obj.builtin else []

    def has_delete_permission(self, request, obj=None):
        return obj is not None and not obj.builtin and not obj.events.exists()


class VerificationForm(forms.ModelForm):
    decision = forms.ChoiceField(
        label=_("decision"), choices=[("approve", _("Approve")), ("reject", _("Reject"))]
    )

    class Meta:
        model = Verification
        fields = ["note"]

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("decision") == "reject" and not (cleaned.get("note") or "").strip():
            raise forms.ValidationError({"note": _("Say why the event is rejected.")})
        return cleaned


@admin.register(Verification)
class VerificationAdmin(admin.ModelAdmin):
    form = VerificationForm
    list_display = ["created_at", "event_type", "member", "challenge", "status", "decided_by"]
    list_filter = ["status", "version__challenge"]
    date_hierarchy = "created_at"
    search_fields = ["event__member__member_number", "event__client_id"]
    readonly_fields = ["event_type", "member", "challenge", "payload", "status", "decided_by"]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .select_related("event__type", "event__member", "version", "decided_by")
        )

    @admin.display(description=_("event"))
    def event_type(self, obj):
        return obj.event.type.code

    @admin.display(description=_("member"))
    def member(self, obj):
        return obj.event.member.member_number

    @admin.display(description=_("challenge"))
    def challenge(self, obj):
        return str(obj.version)

    @admin.display(description=_("payload"))
    def payload(self, obj):
        return json.dumps(obj.event.payload, ensure_ascii=False)

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        allowed = super().has_change_permission(request, obj)
        return allowed and (obj is None or obj.status == Verification.Status.PENDING)

    def save_model(self, request, obj, form, change):
        verification_decide(
            verification=obj,
            approve=form.cleaned_data["decision"] == "approve",
            note=form.cleaned_data["note"],
            user=request.user,
        )


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin):
    list_display = ["occurred_at", "type", "member", "store", "status", "client_id", "source_key"]
    list_filter = ["status", "type"]
    date_hierarchy = "occurred_at"
    search_fields = ["client_id", "member__member_number"]
    list_select_related = ["type", "member", "store"]


@admin.register(WeatherObservation)
class WeatherObservationAdmin(admin.ModelAdmin):
    list_display = ["date", "store", "condition", "precipitation_mm", "source"]
    list_filter = ["condition", "store"]
    date_hierarchy = "date"
