"""The survey admin: marketers define surveys and their questions and read the responses.

Responses and answers are read-only for everyone (metrics.services.survey_answer writes them);
a response shows each answer's score beside the free text given with it, and each survey has
a summary page (answer counts, means, the headline number per question, the latest comments).
Once a question has answers its kind and scale are fixed, and once a survey has responses its
code is (challenges and snapshots refer to it).
"""

from django import forms
from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.http import Http404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.text import Truncator
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from loyalty.admin import MemberColumnsMixin
from loyalty.admin_base import ReadOnlyAdmin, ReadOnlyInline

from .models import Answer, Question, Survey, SurveyResponse
from .survey_selectors import survey_comments, survey_summary, surveys_with_counts

SCALE_CHOICES = [
    ("", "-"),
    (5, _("5-point (1-5)")),
    (10, _("10-point (1-10)")),
    (100, _("0-100")),
]


class QuestionForm(forms.ModelForm):
    scale = forms.TypedChoiceField(
        label=_("scale (CSAT)"),
        choices=SCALE_CHOICES,
        coerce=int,
        empty_value=None,
        required=False,
        help_text=_("CSAT only; answers are normalised to 0-100."),
    )

    class Meta:
        model = Question
        fields = ["position", "kind", "text", "scale", "required"]

    def clean(self):
        cleaned = super().clean()
        kind, scale = cleaned.get("kind"), cleaned.get("scale")
        if "scale" in self.errors:
            pass  # not one of the scales: already said
        elif kind == Question.Kind.CSAT and scale is None:
            self.add_error("scale", _("A CSAT question needs a scale: 5, 10 or 100."))
        elif kind and kind != Question.Kind.CSAT and scale is not None:
            self.add_error("scale", _("Only CSAT questions have a scale."))
        instance = self.instance
        if instance.pk and {"kind", "scale"} & set(self.changed_data) and instance.answers.exists():
            raise forms.ValidationError(
                _(
                    "This question has answers: its kind and scale can't change "
                    "(add a new question instead)."
                )
            )
        return cleaned


class QuestionInline(admin.TabularInline):
    model = Question
    form = QuestionForm
    extra = 1
    fields = ["position", "kind", "text", "scale", "required", "answer_count"]
    readonly_fields = ["answer_count"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_answers=Count("answers"))

    @admin.display(description=_("answers"))
    def answer_count(self, obj):
        return getattr(obj, "_answers", 0) if obj.pk else "-"


class SurveyForm(forms.ModelForm):
    class Meta:
        model = Survey
        fields = [
            "code",
            "title",
            "description",
            "is_active",
            "allow_repeat",
            "starts_at",
            "ends_at",
        ]

    def clean(self):
        cleaned = super().clean()
        starts, ends = cleaned.get("starts_at"), cleaned.get("ends_at")
        if starts and ends and ends <= starts:
            self.add_error("ends_at", _("Must be after the start."))
        return cleaned


@admin.register(Survey)
class SurveyAdmin(admin.ModelAdmin):
    form = SurveyForm
    list_display = [
        "code",
        "title",
        "is_active",
        "allow_repeat",
        "starts_at",
        "ends_at",
        "response_count",
        "last_answered_at",
        "summary_link",
    ]
    list_filter = ["is_active", "allow_repeat"]
    search_fields = ["code", "title"]
    inlines = [QuestionInline]

    def get_queryset(self, request):
        return surveys_with_counts(super().get_queryset(request))

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and obj.responses.exists():
            return ["code"]
        return []

    @admin.display(description=_("responses"), ordering="response_count")
    def response_count(self, obj):
        url = reverse("admin:metrics_surveyresponse_changelist") + f"?survey__id__exact={obj.pk}"
        return format_html('<a href="{}">{}</a>', url, obj.response_count)

    @admin.display(description=_("last answered"), ordering="last_answered_at")
    def last_answered_at(self, obj):
        return obj.last_answered_at

    @admin.display(description=_("summary"))
    def summary_link(self, obj):
        url = reverse("admin:metrics_survey_summary", args=[obj.pk])
        return format_html('<a href="{}">{}</a>', url, gettext("Summary"))

    def get_urls(self):
        return [
            path(
                "<path:object_id>/summary/",
                self.admin_site.admin_view(self.summary_view),
                name="metrics_survey_summary",
            ),
            *super().get_urls(),
        ]

    def summary_view(self, request, object_id):
        if not (
            request.user.has_perm("metrics.view_survey")
            and request.user.has_perm("metrics.view_surveyresponse")
        ):
            raise PermissionDenied
        survey = Survey.objects.filter(pk=unquote(object_id)).first()
        if survey is None:
            raise Http404
        opts = self.model._meta
        context = {
            **self.admin_site.each_context(request),
            "opts": opts,
            "title": gettext("Summary"),
            "subtitle": str(survey),
            "original": survey,
            "responses": survey.responses.count(),
            "questions": survey_summary(survey=survey),
            "comments": survey_comments(survey=survey, limit=50),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/metrics/survey/summary.html", context)


class AnswerInline(ReadOnlyInline, admin.TabularInline):
    """Each answer with its score (as given and normalised) beside any free text: the "why"
    behind the number. Part of the response: whoever may view responses sees them."""

    model = Answer
    fields = ["question", "kind", "score", "normalised", "yes", "text"]
    readonly_fields = fields
    ordering = ["question__position", "question__pk"]

    def has_view_permission(self, request, obj=None):
        return request.user.has_perm("metrics.view_surveyresponse")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("question")

    @admin.display(description=_("kind"))
    def kind(self, obj):
        return obj.question.get_kind_display()


@admin.register(SurveyResponse)
class SurveyResponseAdmin(MemberColumnsMixin, ReadOnlyAdmin):
    list_display = ["answered_at", "survey", "member_link", "store", "scores", "comment"]
    list_filter = ["survey", "store"]
    list_select_related = ["survey", "member", "store"]
    date_hierarchy = "answered_at"
    search_fields = ["=member__member_number"]
    search_help_text = _("Member number.")
    raw_id_fields = ["member"]
    show_full_result_count = False
    fields = ["survey", "member", "store", "answered_at"]
    readonly_fields = fields
    inlines = [AnswerInline]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("answers__question")

    @admin.display(description=_("scores"))
    def scores(self, obj):
        answers = sorted(obj.answers.all(), key=lambda a: (a.question.position, a.question.pk))
        parts = [
            (a.question.kind, a.score if a.score is not None else (_("yes") if a.yes else _("no")))
            for a in answers
            if a.question.kind != Question.Kind.TEXT
        ]
        return format_html_join(", ", "{}: {}", parts) or "-"

    @admin.display(description=_("comment"))
    def comment(self, obj):
        texts = [a.text for a in obj.answers.all() if a.text]
        return Truncator(" / ".join(texts)).chars(100) if texts else "-"
