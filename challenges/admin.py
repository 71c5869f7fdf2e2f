"""Admin for marketers and staff: challenges (a JSON definition, saved as a new version through
the services), event types, the verification queue, events and weather.

Nothing here saves a challenge version, an event or an award directly: versions are
immutable and made by `challenge_create` / `challenge_revise`, decisions by
`verification_decide`.
"""

import json
import re

from django import forms
from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.contrib.admin.widgets import AdminSplitDateTime
from django.core.exceptions import PermissionDenied
from django.core.serializers.json import DjangoJSONEncoder
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from rest_framework.exceptions import ValidationError as ApiValidationError
from rest_framework.settings import api_settings

from loyalty.admin_base import ReadOnlyAdmin, add_service_error
from loyalty.api.errors import error_fields
from loyalty.errors import LoyaltyError
from loyalty.models.purchases import Channel
from members.models import Member

from .definitions import definition_from_version
from .dry_run import DryRunEventSerializer, dry_run
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
                    "status": _("A challenge that is %(old)s can't become %(new)s.")
                    % {"old": old, "new": status}
                }
            )
        return cleaned


class DryRunForm(forms.Form):
    """The event a dry-run tries, as HTML inputs. The inputs are turned into the API's request
    body and checked by the API's own serializer (challenges/dry_run.py), whose errors land on
    the field they name: the page and `POST /api/v1/challenges/{code}/dry-run` accept and
    refuse exactly the same events."""

    type = forms.ModelChoiceField(
        label=_("event type"), queryset=EventType.objects.order_by("code"), to_field_name="code"
    )
    member_number = forms.CharField(label=_("member number"))
    occurred_at = forms.SplitDateTimeField(
        label=_("occurred at"),
        widget=AdminSplitDateTime,
        required=False,
        initial=timezone.now,
        help_text=_("Empty: now."),
    )
    store_code = forms.CharField(label=_("store code"), required=False)
    total = forms.IntegerField(
        label=_("total (yen)"), required=False, help_text=_("Purchases only: required there.")
    )
    lines = forms.JSONField(
        label=_("lines"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "cols": 80, "style": "font-family: monospace"}),
        help_text=_(
            'Purchases only, a JSON list: [{"sku": "TEA-01", "category": "tea", '
            '"quantity": 2, "unit_price": 800}]'
        ),
    )
    staff_code = forms.CharField(label=_("staff code"), required=False)
    channel = forms.ChoiceField(
        label=_("channel"), choices=Channel.choices, initial=Channel.STORE, required=False
    )
    payload = forms.JSONField(
        label=_("payload"),
        required=False,
        initial=dict,
        widget=forms.Textarea(attrs={"rows": 4, "cols": 80, "style": "font-family: monospace"}),
        help_text=_('A JSON object checked against the event type\'s schema: {"survey": "S1"}'),
    )
    weather_condition = forms.ChoiceField(
        label=_("weather"),
        choices=[("", _("as observed for the store that day"))]
        + list(WeatherObservation.Condition.choices),
        required=False,
    )
    weather_precipitation_mm = forms.FloatField(label=_("precipitation (mm)"), required=False)

    fieldsets = [
        (None, ["type", "member_number", "occurred_at", "store_code"]),
        (_("Purchase"), ["total", "lines", "staff_code", "channel"]),
        (_("Payload and weather"), ["payload", "weather_condition", "weather_precipitation_mm"]),
    ]

    def clean(self):
        cleaned = super().clean()
        api = DryRunEventSerializer(data=self._api_body(cleaned))
        if api.is_valid():
            self.dry_run_data = api.validated_data
        else:
            self._add_api_errors(api.errors)
        return cleaned

    def _api_body(self, cleaned: dict) -> dict:
        """The request body the API would get; empty inputs are left out so the serializer's
        defaults apply."""
        body = {
            "type": cleaned["type"].code if cleaned.get("type") else None,
            "member_number": cleaned.get("member_number"),
            "occurred_at": cleaned["occurred_at"].isoformat()
            if cleaned.get("occurred_at")
            else None,
            "store_code": cleaned.get("store_code"),
            "total": cleaned.get("total"),
            "lines": cleaned.get("lines"),
            "staff_code": cleaned.get("staff_code"),
            "channel": cleaned.get("channel"),
            "payload": cleaned.get("payload"),
        }
        weather = {
            "condition": cleaned.get("weather_condition"),
            "precipitation_mm": cleaned.get("weather_precipitation_mm"),
        }
        weather = {k: v for k, v in weather.items() if v not in (None, "")}
        if weather:
            body["weather"] = weather
        return {k: v for k, v in body.items() if v not in (None, "")}

    def _add_api_errors(self, detail) -> None:
        """Each error on the input it names: `weather.condition` on weather_condition,
        `lines[0].quantity` on lines (the message keeps the path). An input that already
        failed to parse keeps its own error."""
        for where, messages in error_fields(detail).items():
            head = re.match(r"[a-z_]*", where).group()
            field, prefix = head, where if where != head else ""
            if head == "weather":
                named = f"weather_{where[len(head) :].lstrip('.')}"
                field, prefix = (named if named in self.fields else "weather_condition"), ""
            elif head == api_settings.NON_FIELD_ERRORS_KEY:
                field, prefix = None, ""
            elif head not in self.fields:
                field = None
            if field is not None and field in self.errors:
                continue
            for message in messages:
                self.add_error(field, f"{prefix}: {message}" if prefix else message)


@admin.register(Challenge)
class ChallengeAdmin(admin.ModelAdmin):
    form = ChallengeForm
    list_display = ["code", "name", "status", "version", "points_granted", "awards"]
    list_filter = ["status"]
    search_fields = ["code", "current_version__name"]
    readonly_fields = ["versions_list"]
    fields = ["code", "status", "start_from_preset", "definition", "versions_list"]
    change_form_template = "admin/challenges/challenge/change_form.html"

    def get_fields(self, request, obj=None):
        # A preset fills a new challenge's empty definition: an existing one has its own.
        fields = super().get_fields(request, obj)
        return fields if obj is None else [f for f in fields if f != "start_from_preset"]

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
            f"v{v.number} {timezone.localtime(v.created_at):%Y-%m-%d %H:%M}"
            for v in obj.versions.order_by("number")
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

    # -- dry run: what every active rule and this challenge would do with an event

    def has_dry_run_permission(self, request, obj=None):
        """Those who write rules try them (marketers, superusers); store staff, who may look
        at challenges, may not."""
        return self.has_view_permission(request, obj) and self.has_change_permission(request, obj)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "can_dry_run": self.has_dry_run_permission(request),
        }
        return super().change_view(request, object_id, form_url, extra_context)

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path(
                "<path:object_id>/dry-run/",
                wrap(self.dry_run_view),
                name="challenges_challenge_dry_run",
            ),
            *super().get_urls(),
        ]

    def dry_run_view(self, request, object_id):
        challenge = self.get_object(request, unquote(object_id))
        if not self.has_dry_run_permission(request, challenge):
            raise PermissionDenied
        if challenge is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if request.method == "POST":
            form = DryRunForm(request.POST)
        else:
            version = challenge.current_version
            form = DryRunForm(
                initial={"type": version.triggers[0] if version and version.triggers else None}
            )
        result = None
        if form.is_valid():
            try:
                result = dry_run(
                    challenge=challenge,
                    member=form.dry_run_data["member"],
                    data=form.dry_run_data,
                    reveal_member=request.user.has_perm("members.view_member"),
                )
            except LoyaltyError as exc:
                add_service_error(form, exc)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "app_label": self.opts.app_label,
            "title": gettext("Dry run"),
            "subtitle": challenge.code,
            "original": challenge,
            "form": form,
            "fieldsets": [
                (title, [form[name] for name in names]) for title, names in form.fieldsets
            ],
            "media": self.media + form.media,
            "result": result and self._dry_run_rows(challenge, result),
            "member_url": result and self._member_url(request, form.dry_run_data["member"]),
            "can_view_members": request.user.has_perm("members.view_member"),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/challenges/challenge/dry_run.html", context)

    def _dry_run_rows(self, challenge: Challenge, result: dict) -> dict:
        pks = dict(
            Challenge.objects.filter(
                code__in={o["challenge"] for o in result["outcomes"]}
            ).values_list("code", "pk")
        )
        rows = [
            {
                **outcome,
                "this": outcome["challenge"] == challenge.code,
                "url": reverse(
                    "admin:challenges_challenge_change", args=[pks[outcome["challenge"]]]
                ),
            }
            for outcome in result["outcomes"]
        ]
        return {**result, "outcomes": rows}

    def _member_url(self, request, member: Member) -> str:
        """Only for users who may view members (the others see redacted reasons too)."""
        if not request.user.has_perm("members.view_member"):
            return ""
        return reverse("admin:members_member_change", args=[member.pk])


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
    list_display = ["code", "display_name", "builtin", "member_app"]

    @admin.display(description=_("name"), ordering="name")
    def display_name(self, obj):
        return obj.display_name

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
        obj.refresh_from_db()  # the admin's message names it as decided, not as it was


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
