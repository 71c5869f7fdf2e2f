"""Reads about surveys: what a member may answer now, and per-survey summaries for staff.

(The KPI calculators over answers are in metrics/kpis/surveys.py; metrics/selectors.py holds
the dashboard's reads.)
"""

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import Avg, Count, Max, Prefetch, Q, QuerySet

from members.models import Member

from .formulas import surveys as formulas
from .models import Answer, Question, Survey, SurveyResponse


def surveys_open(*, now: dt.datetime) -> QuerySet[Survey]:
    """Surveys that can be answered at `now`: active and within their dates."""
    return Survey.objects.filter(is_active=True).filter(
        Q(starts_at__isnull=True) | Q(starts_at__lte=now),
        Q(ends_at__isnull=True) | Q(ends_at__gt=now),
    )


def member_surveys(*, member: Member, now: dt.datetime) -> QuerySet[Survey]:
    """The open surveys with their questions, each annotated with how often `member` has
    answered it (`times_answered`) and when last (`last_answered_at`), newest first."""
    mine = Q(responses__member=member)
    return (
        surveys_open(now=now)
        .annotate(
            times_answered=Count("responses", filter=mine),
            last_answered_at=Max("responses__answered_at", filter=mine),
        )
        .prefetch_related(
            Prefetch("questions", queryset=Question.objects.order_by("position", "pk"))
        )
        .order_by("-created_at", "pk")
    )


def survey_response_with_answers(*, response_id: int) -> SurveyResponse:
    return (
        SurveyResponse.objects.select_related("survey", "store", "member")
        .prefetch_related(
            Prefetch(
                "answers",
                queryset=Answer.objects.select_related("question").order_by(
                    "question__position", "question__pk"
                ),
            )
        )
        .get(pk=response_id)
    )


def surveys_with_counts(queryset: QuerySet[Survey]) -> QuerySet[Survey]:
    """Each survey with its number of responses and its last answer time (admin list)."""
    return queryset.annotate(
        response_count=Count("responses", distinct=True),
        last_answered_at=Max("responses__answered_at"),
    )


@dataclass(frozen=True)
class QuestionSummary:
    question: Question
    answers: int
    mean: Decimal | None = None  # score kinds: mean of the scores as given; csat: 0-100
    headline: Decimal | None = None  # nps / nrs / net CES / DWB top box, as the KPI computes
    counts: dict[str, int] = field(default_factory=dict)  # the score's distribution


def survey_summary(*, survey: Survey) -> list[QuestionSummary]:
    """Per question of `survey`, over all its answers: how many, the mean and the headline
    number of its kind. Two aggregate queries whatever the number of answers."""
    questions = list(survey.questions.order_by("position", "pk"))
    stats = {
        row["question"]: row
        for row in Answer.objects.filter(question__survey=survey)
        .values("question")
        .annotate(
            n=Count("pk"),
            mean_score=Avg("score"),
            mean_normalised=Avg("normalised"),
            # Not named yes/no: an annotation named like a field shadows it in the filter.
            yes_count=Count("pk", filter=Q(yes=True)),
            no_count=Count("pk", filter=Q(yes=False)),
        )
        .order_by()
    }
    distribution: dict[int, dict[str, int]] = {}
    for row in (
        Answer.objects.filter(question__survey=survey, score__isnull=False)
        .values("question", "score")
        .annotate(n=Count("pk"))
        .order_by("question", "score")
    ):
        distribution.setdefault(row["question"], {})[str(row["score"])] = row["n"]
    out = []
    for question in questions:
        row = stats.get(question.pk)
        if row is None:
            out.append(QuestionSummary(question=question, answers=0))
            continue
        scores = distribution.get(question.pk, {})
        counts = dict(scores)
        mean = _decimal(row["mean_score"])
        headline = None
        kind = question.kind
        if kind == Question.Kind.NPS:
            headline = formulas.nps(*_bands(scores, (9, 10), (7, 8), (0, 6)))
        elif kind == Question.Kind.NRS:
            headline = formulas.nrs(*_bands(scores, (5, 5), (4, 4), (1, 3)))
        elif kind == Question.Kind.CSAT:
            mean = _decimal(row["mean_normalised"])
        elif kind == Question.Kind.CES_YES_NO:
            counts = {"yes": row["yes_count"], "no": row["no_count"]}
            headline = formulas.ces_net(row["no_count"], row["yes_count"])
        elif kind == Question.Kind.DWB:
            headline = formulas.dwb(scores.get("1", 0), row["n"])
        out.append(
            QuestionSummary(
                question=question, answers=row["n"], mean=mean, headline=headline, counts=counts
            )
        )
    return out


def _decimal(value) -> Decimal | None:
    if value is None:
        return None
    return formulas.mean(Decimal(str(value)), 1)


def _bands(scores: dict[str, int], *bands: tuple[int, int]) -> list[int]:
    return [sum(n for s, n in scores.items() if low <= int(s) <= high) for low, high in bands]


@dataclass(frozen=True)
class Comment:
    """A free-text answer with the scores given in the same response: the "why" beside the
    number."""

    response: SurveyResponse
    texts: list[Answer]
    scores: list[Answer]


def survey_comments(
    *,
    survey: Survey | None = None,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    limit: int = 50,
) -> list[Comment]:
    """The latest responses with a free-text answer (of `survey`, answered in [start, end)),
    newest first, each with its other answers."""
    responses = SurveyResponse.objects.filter(
        answers__question__kind=Question.Kind.TEXT, answers__text__gt=""
    )
    if survey is not None:
        responses = responses.filter(survey=survey)
    if start is not None:
        responses = responses.filter(answered_at__gte=start)
    if end is not None:
        responses = responses.filter(answered_at__lt=end)
    responses = (
        responses.distinct()
        .select_related("survey", "member", "store")
        .prefetch_related(
            Prefetch(
                "answers",
                queryset=Answer.objects.select_related("question").order_by(
                    "question__position", "question__pk"
                ),
            )
        )
        .order_by("-answered_at", "-pk")[:limit]
    )
    out = []
    for response in responses:
        answers = list(response.answers.all())
        out.append(
            Comment(
                response=response,
                texts=[a for a in answers if a.question.kind == Question.Kind.TEXT],
                scores=[a for a in answers if a.question.kind != Question.Kind.TEXT],
            )
        )
    return out
