"""Helpers for the survey tests: surveys with typed questions, answers through the service."""

import datetime as dt

from metrics.models import Question, Survey
from metrics.services import survey_answer

JST = dt.timezone(dt.timedelta(hours=9))


def survey_make(code: str = "visit", *questions: tuple, **fields) -> Survey:
    """A survey with `questions`: (kind,) or (kind, {"scale": 5, "required": False, ...}),
    positions 1, 2, ... in the order given."""
    survey = Survey.objects.create(code=code, title=fields.pop("title", code.title()), **fields)
    for position, spec in enumerate(questions, start=1):
        kind, extra = spec[0], (spec[1] if len(spec) > 1 else {})
        Question.objects.create(
            survey=survey,
            position=position,
            kind=kind,
            text=extra.pop("text", f"{kind} question"),
            **extra,
        )
    return survey


def q(survey: Survey, position: int) -> Question:
    return survey.questions.get(position=position)


def answer(member, survey: Survey, *values, store=None, answered_at=None):
    """Answer the survey's questions in position order with `values` (None: skip it)."""
    answers = []
    for question, value in zip(survey.questions.order_by("position"), values, strict=False):
        if value is None:
            continue
        key = {"text": "text", "ces_yes_no": "yes"}.get(question.kind, "score")
        answers.append({"question": question.pk, key: value})
    return survey_answer(
        member=member, survey=survey, answers=answers, store=store, answered_at=answered_at
    )


def survey_example_create() -> Survey:
    """The survey the API schema's examples name (metrics.me_api), with the same question
    ids, so schemathesis' example phase answers a real, open survey."""
    from metrics.me_api import QUESTIONS_EXAMPLE, SURVEY_EXAMPLE

    survey = Survey.objects.create(
        code=SURVEY_EXAMPLE["code"],
        title=SURVEY_EXAMPLE["title"],
        description=SURVEY_EXAMPLE["description"],
    )
    scales = {"csat": 5}
    for question in QUESTIONS_EXAMPLE:
        Question.objects.create(
            pk=question["id"],
            survey=survey,
            position=question["position"],
            kind=question["kind"],
            text=question["text"],
            required=question["required"],
            scale=scales.get(question["kind"]),
        )
    return survey
