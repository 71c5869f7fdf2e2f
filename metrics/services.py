"""Writes of the metrics app: a member answering a survey.

`survey_answer` is the one way answers are stored (the member API calls it; the admin only
shows them). It checks every answer against its question, stores the response and its answers
and the `survey_answered` event for the challenge engine in one transaction, so a survey
answer and its reward are never one without the other.
"""

import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from challenges.intake import events_enqueue_processing
from challenges.models import Event, EventType
from loyalty.errors import MemberNotActive
from members.models import Member, Store

from .formulas.surveys import CSAT_SCALES, csat_normalise
from .models import Answer, Question, Survey, SurveyResponse
from .survey_errors import SurveyAlreadyAnswered, SurveyAnswersInvalid, SurveyClosed

# The scores each kind takes (CSAT: by its scale, formulas.surveys.CSAT_SCALES).
SCORE_RANGES = {
    Question.Kind.NPS: (0, 10),
    Question.Kind.NRS: (1, 5),
    Question.Kind.CES: (0, 10),
    Question.Kind.DWB: (1, 5),
}
TEXT_MAX_LENGTH = 2000
# What the member gives for each kind: a score, yes/no, or text.
VALUE_KEYS = ("score", "yes", "text")
# Intake identity of the events surveys emit: (source_key, client id "survey:<response id>").
EVENT_SOURCE = "surveys"
EVENT_TYPE = "survey_answered"


def question_value_key(question: Question) -> str:
    if question.kind == Question.Kind.TEXT:
        return "text"
    if question.kind == Question.Kind.CES_YES_NO:
        return "yes"
    return "score"


def question_score_range(question: Question) -> tuple[int, int] | None:
    """The lowest and highest score a question takes (None: it takes no score)."""
    if question.kind == Question.Kind.CSAT:
        return CSAT_SCALES[question.scale]
    return SCORE_RANGES.get(question.kind)


def survey_open_problem(*, survey: Survey, at: dt.datetime) -> str | None:
    """Why `survey` can't be answered at `at`, or None when it can."""
    if not survey.is_active:
        return _("This survey is not active.")
    if survey.starts_at is not None and at < survey.starts_at:
        return _("This survey has not started yet.")
    if survey.ends_at is not None and at >= survey.ends_at:
        return _("This survey has ended.")
    return None


def _answer_errors(
    *, index: int, question: Question, answer: Mapping[str, Any], errors: dict[str, list[str]]
) -> Answer | None:
    """The Answer for one valid item (unsaved, without its response); records what is wrong
    in `errors` under "answers[<index>].<key>" otherwise. None for a blank optional text."""
    at = f"answers[{index}]"
    wanted = question_value_key(question)
    # An app may send every key with null or "" for the ones that don't apply.
    given = {key for key in VALUE_KEYS if answer.get(key) not in (None, "")}
    problems: dict[str, list[str]] = {}
    for key in sorted(given - {wanted}, key=VALUE_KEYS.index):
        problems[f"{at}.{key}"] = [
            _("A %(kind)s question is answered with %(wanted)s.")
            % {"kind": question.kind, "wanted": wanted}
        ]
    value = answer.get(wanted)
    if wanted == "score":
        low, high = question_score_range(question)
        message = _("Must be an integer from %(low)d to %(high)d.") % {"low": low, "high": high}
        if value is None:
            problems[f"{at}.score"] = [_("This field is required.")]
        elif isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            problems[f"{at}.score"] = [message]
    elif wanted == "yes":
        if value is None:
            problems[f"{at}.yes"] = [_("This field is required.")]
        elif not isinstance(value, bool):
            problems[f"{at}.yes"] = [_("Must be true or false.")]
    else:
        if value is None:
            value = ""
        if not isinstance(value, str):
            problems[f"{at}.text"] = [_("Must be a string.")]
        elif "\x00" in value:
            problems[f"{at}.text"] = [_("Must not contain the NUL character.")]
        elif len(value.strip()) > TEXT_MAX_LENGTH:
            problems[f"{at}.text"] = [
                _("Must be at most %(max)d characters.") % {"max": TEXT_MAX_LENGTH}
            ]
        elif not value.strip() and question.required:
            problems[f"{at}.text"] = [_("This question needs an answer.")]
    if problems:
        errors.update(problems)
        return None
    if wanted == "text":
        text = value.strip()
        return Answer(question=question, text=text) if text else None
    if wanted == "yes":
        return Answer(question=question, yes=value)
    normalised = (
        csat_normalise(value, question.scale) if question.kind == Question.Kind.CSAT else None
    )
    return Answer(question=question, score=value, normalised=normalised)


def survey_answers_clean(*, survey: Survey, answers: Sequence[Mapping[str, Any]]) -> list[Answer]:
    """The answers as unsaved Answer rows, in question order, or SurveyAnswersInvalid naming
    every offending input. `answers`: [{"question": id, "score" | "yes" | "text": value}]."""
    questions = {q.pk: q for q in survey.questions.all()}
    errors: dict[str, list[str]] = {}
    if isinstance(answers, str | bytes) or not isinstance(answers, Sequence):
        raise SurveyAnswersInvalid({"answers": [_("Must be a list of answers.")]})
    if not answers:
        raise SurveyAnswersInvalid({"answers": [_("Answer at least one question.")]})
    cleaned: dict[int, Answer | None] = {}  # by question id, in the order given
    for index, answer in enumerate(answers):
        at = f"answers[{index}]"
        if not isinstance(answer, Mapping):
            errors[at] = [_("Must be an object.")]
            continue
        question_id = answer.get("question")
        if isinstance(question_id, bool) or not isinstance(question_id, int):
            errors[f"{at}.question"] = [_("Must be the id of a question of this survey.")]
            continue
        question = questions.get(question_id)
        if question is None:
            errors[f"{at}.question"] = [
                _("Question %(id)d is not part of this survey.") % {"id": question_id}
            ]
            continue
        if question_id in cleaned:
            errors[f"{at}.question"] = [
                _("Question %(id)d is answered more than once.") % {"id": question_id}
            ]
            continue
        cleaned[question_id] = _answer_errors(
            index=index, question=question, answer=answer, errors=errors
        )
    missing = sorted(
        (q for q in questions.values() if q.required and q.pk not in cleaned),
        key=lambda q: (q.position, q.pk),
    )
    if missing:
        errors.setdefault("answers", []).extend(
            _("Question %(id)d is required.") % {"id": q.pk} for q in missing
        )
    if errors:
        raise SurveyAnswersInvalid(errors)
    rows = [a for a in cleaned.values() if a is not None]
    if not rows:
        raise SurveyAnswersInvalid({"answers": [_("Answer at least one question.")]})
    return sorted(rows, key=lambda a: (a.question.position, a.question.pk))


def _event_score(answers: list[Answer]) -> int | None:
    """The score the event carries: the NPS answer's if there is one, else the first scored
    answer's (in question order) as given on its scale; None when no answer has a score."""
    scored = [a for a in answers if a.score is not None]
    for answer in scored:
        if answer.question.kind == Question.Kind.NPS:
            return answer.score
    return scored[0].score if scored else None


@transaction.atomic
def survey_answer(
    *,
    member: Member,
    survey: Survey,
    answers: Sequence[Mapping[str, Any]],
    store: Store | None = None,
    answered_at: dt.datetime | None = None,
) -> SurveyResponse:
    """Store `member`'s answers to `survey` (at `store`, at `answered_at`, default now) and
    emit its `survey_answered` event. Refused, changing nothing: SurveyClosed (inactive or
    outside its dates at that time), MemberNotActive, SurveyAlreadyAnswered (once-only survey
    already answered, also when two requests race: the database constraint decides),
    SurveyAnswersInvalid (naming every offending answer)."""
    answered_at = answered_at or timezone.now()
    problem = survey_open_problem(survey=survey, at=answered_at)
    if problem:
        raise SurveyClosed(problem)
    if member.status != Member.Status.ACTIVE:
        raise MemberNotActive()
    repeat_key = uuid.uuid4().hex if survey.allow_repeat else ""
    if (
        not survey.allow_repeat
        and SurveyResponse.objects.filter(survey=survey, member=member, repeat_key="").exists()
    ):
        raise SurveyAlreadyAnswered()
    rows = survey_answers_clean(survey=survey, answers=answers)
    response = SurveyResponse(
        survey=survey,
        member=member,
        store=store,
        answered_at=answered_at,
        repeat_key=repeat_key,
    )
    try:
        with transaction.atomic():
            response.save()
    except IntegrityError:
        # A concurrent request stored the member's answer first (PostgreSQL made this insert
        # wait for it): the unique constraint is the guarantee, this is its message.
        if SurveyResponse.objects.filter(
            survey=survey, member=member, repeat_key=repeat_key
        ).exists():
            raise SurveyAlreadyAnswered() from None
        raise
    for row in rows:
        row.response = response
    Answer.objects.bulk_create(rows)
    payload: dict[str, Any] = {"survey": survey.code}
    score = _event_score(rows)
    if score is not None:
        payload["score"] = score
    Event.objects.create(
        source_key=EVENT_SOURCE,
        client_id=f"survey:{response.pk}",
        type=EventType.objects.get(code=EVENT_TYPE),
        member=member,
        store=store,
        occurred_at=answered_at,
        payload=payload,
        body_hash="",
    )
    events_enqueue_processing()
    return response
