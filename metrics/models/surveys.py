"""Surveys members answer in the app, with typed questions (the survey-based KPIs read them)."""

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class Survey(models.Model):
    code = models.SlugField(_("code"), max_length=64, unique=True)
    title = models.CharField(_("title"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    allow_repeat = models.BooleanField(
        _("allow repeat answers"),
        default=False,
        help_text=_("Members may answer more than once (e.g. after every visit)."),
    )
    starts_at = models.DateTimeField(_("starts at"), null=True, blank=True)
    ends_at = models.DateTimeField(_("ends at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("survey")
        verbose_name_plural = _("surveys")
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__isnull=True)
                | Q(starts_at__isnull=True)
                | Q(ends_at__gt=models.F("starts_at")),
                name="survey_ends_after_start",
            )
        ]

    def __str__(self) -> str:
        return self.title


class Question(models.Model):
    class Kind(models.TextChoices):
        NPS = "nps", _("NPS: likely to recommend, 0-10")
        NRS = "nrs", _("NRS: still buying in a year, 1-5")
        CSAT = "csat", _("Satisfaction (CSI/CSAT), normalised to 0-100")
        CES = "ces", _("Customer effort, 0-10 (lower is better)")
        CES_YES_NO = "ces_yes_no", _("Customer effort: did this take effort? yes/no")
        DWB = "dwb", _("Definitely would buy, 1-5 (1 = definitely)")
        TEXT = "text", _("Free text")

    survey = models.ForeignKey(
        Survey, verbose_name=_("survey"), on_delete=models.CASCADE, related_name="questions"
    )
    position = models.PositiveSmallIntegerField(_("position"), default=0)
    kind = models.CharField(_("kind"), max_length=12, choices=Kind.choices)
    text = models.CharField(_("question"), max_length=300)
    # CSAT only: the scale members answer on (5 or 10 points, or 100), normalised to 0-100.
    scale = models.PositiveSmallIntegerField(_("scale (CSAT)"), null=True, blank=True)
    required = models.BooleanField(_("required"), default=True)

    class Meta:
        verbose_name = _("question")
        verbose_name_plural = _("questions")
        ordering = ["survey", "position", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(kind="csat") & Q(scale__in=[5, 10, 100]))
                | (~Q(kind="csat") & Q(scale__isnull=True)),
                name="question_scale_only_for_csat",
            )
        ]

    def __str__(self) -> str:
        return self.text


class SurveyResponse(models.Model):
    """One member's answers to one survey, at one time (at one store, if given)."""

    survey = models.ForeignKey(
        Survey, verbose_name=_("survey"), on_delete=models.PROTECT, related_name="responses"
    )
    member = models.ForeignKey(
        "members.Member",
        verbose_name=_("member"),
        on_delete=models.PROTECT,
        related_name="survey_responses",
    )
    store = models.ForeignKey(
        "members.Store",
        verbose_name=_("store"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    answered_at = models.DateTimeField(_("answered at"))
    # "" for a survey answered once per member (the constraint below makes it once); a unique
    # token per answer where the survey allows repeats.
    repeat_key = models.CharField(max_length=40, blank=True, editable=False)

    class Meta:
        verbose_name = _("survey response")
        verbose_name_plural = _("survey responses")
        ordering = ["-answered_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["survey", "member", "repeat_key"], name="survey_response_once"
            )
        ]
        indexes = [models.Index(fields=["answered_at"], name="survey_response_answered")]

    def __str__(self) -> str:
        return f"{self.survey_id} {self.member_id} {self.answered_at:%Y-%m-%d}"


class Answer(models.Model):
    response = models.ForeignKey(
        SurveyResponse, verbose_name=_("response"), on_delete=models.CASCADE, related_name="answers"
    )
    question = models.ForeignKey(
        Question, verbose_name=_("question"), on_delete=models.PROTECT, related_name="answers"
    )
    # The answer as given: a score (nps, nrs, ces, dwb, csat on its scale), yes/no
    # (ces_yes_no) or text; `normalised` is a CSAT score on 0-100.
    score = models.SmallIntegerField(_("score"), null=True, blank=True)
    yes = models.BooleanField(_("yes"), null=True, blank=True)
    text = models.TextField(_("text"), blank=True)
    normalised = models.DecimalField(
        _("normalised (0-100)"), max_digits=6, decimal_places=2, null=True, blank=True
    )

    class Meta:
        verbose_name = _("answer")
        verbose_name_plural = _("answers")
        constraints = [
            models.UniqueConstraint(fields=["response", "question"], name="answer_once"),
            models.CheckConstraint(
                condition=Q(normalised__isnull=True) | Q(normalised__gte=0, normalised__lte=100),
                name="answer_normalised_range",
            ),
            # Exactly one of score, yes, text; a normalised value only beside a score.
            models.CheckConstraint(
                condition=(Q(score__isnull=False) & Q(yes__isnull=True) & Q(text=""))
                | (Q(score__isnull=True) & Q(yes__isnull=False) & Q(text=""))
                | (Q(score__isnull=True) & Q(yes__isnull=True) & ~Q(text="")),
                name="answer_one_value",
            ),
            models.CheckConstraint(
                condition=Q(normalised__isnull=True) | Q(score__isnull=False),
                name="answer_normalised_needs_score",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.question_id}: {self.score if self.score is not None else self.text[:30]}"
