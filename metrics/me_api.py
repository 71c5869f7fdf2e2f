"""The member app's surveys: which it may answer now, with their questions, and answering one
(`/api/v1/me/surveys...`). Views parse and render; metrics.services.survey_answer decides."""

from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from loyalty.api.errors import error_fields
from loyalty.api.fields import StrictCharField, StrictIntegerField
from loyalty.api.schema import error_response, field_error
from members.authentication import IsMember
from members.models import Member, Store

from .models import Question, Survey
from .services import (
    TEXT_MAX_LENGTH,
    question_score_range,
    question_value_key,
    survey_answer,
    survey_answers_clean,
)
from .survey_errors import SurveyAnswersInvalid
from .survey_selectors import member_surveys, survey_response_with_answers

MAX_ANSWERS = 100
MAX_ID = 2**63 - 1  # a bigint: beyond it a lookup would be a database error, not a 400


class StrictBooleanField(serializers.BooleanField):
    """true or false only (DRF's BooleanField also takes "yes", 1, "on", ...)."""

    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("invalid", input=data)
        return data


# --- Output ------------------------------------------------------------------------------------


class QuestionOutSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    position = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=Question.Kind.choices)
    text = serializers.CharField()
    required = serializers.BooleanField()
    answer = serializers.ChoiceField(
        choices=["score", "yes", "text"], help_text=_("The key the answer goes in.")
    )
    min = serializers.IntegerField(allow_null=True, help_text=_("Lowest score (score answers)."))
    max = serializers.IntegerField(allow_null=True, help_text=_("Highest score (score answers)."))
    max_length = serializers.IntegerField(
        allow_null=True, help_text=_("Longest text (text answers).")
    )


class MeSurveySerializer(serializers.Serializer):
    code = serializers.CharField()
    title = serializers.CharField()
    description = serializers.CharField()
    allow_repeat = serializers.BooleanField()
    starts_at = serializers.DateTimeField(allow_null=True)
    ends_at = serializers.DateTimeField(allow_null=True)
    answered = serializers.BooleanField(help_text=_("The member has answered it at least once."))
    times_answered = serializers.IntegerField()
    last_answered_at = serializers.DateTimeField(allow_null=True)
    can_answer = serializers.BooleanField(
        help_text=_("False once answered, unless the survey allows repeat answers.")
    )
    questions = QuestionOutSerializer(many=True)


class AnswerOutSerializer(serializers.Serializer):
    question = serializers.IntegerField(source="question_id")
    kind = serializers.CharField(source="question.kind")
    score = serializers.IntegerField(allow_null=True)
    yes = serializers.BooleanField(allow_null=True)
    text = serializers.CharField()


class SurveyResponseOutSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    survey = serializers.CharField(source="survey.code")
    answered_at = serializers.DateTimeField()
    store_code = serializers.CharField(source="store.code", allow_null=True, default=None)
    answers = AnswerOutSerializer(many=True)


def _question_body(question: Question) -> dict:
    low_high = question_score_range(question)
    answer = question_value_key(question)
    return {
        "id": question.pk,
        "position": question.position,
        "kind": question.kind,
        "text": question.text,
        "required": question.required,
        "answer": answer,
        "min": low_high[0] if low_high else None,
        "max": low_high[1] if low_high else None,
        "max_length": TEXT_MAX_LENGTH if answer == "text" else None,
    }


def _survey_body(survey: Survey) -> dict:
    return MeSurveySerializer(
        {
            "code": survey.code,
            "title": survey.title,
            "description": survey.description,
            "allow_repeat": survey.allow_repeat,
            "starts_at": survey.starts_at,
            "ends_at": survey.ends_at,
            "answered": survey.times_answered > 0,
            "times_answered": survey.times_answered,
            "last_answered_at": survey.last_answered_at,
            "can_answer": survey.allow_repeat or survey.times_answered == 0,
            "questions": [_question_body(q) for q in survey.questions.all()],
        }
    ).data


# --- Input -------------------------------------------------------------------------------------


class AnswerInSerializer(serializers.Serializer):
    question = StrictIntegerField(min_value=1, max_value=MAX_ID)
    score = StrictIntegerField(
        required=False,
        allow_null=True,
        help_text=_("nps, nrs, csat, ces, dwb: an integer from the question's min to max."),
    )
    yes = StrictBooleanField(
        required=False, allow_null=True, help_text=_("ces_yes_no: did this take effort?")
    )
    text = StrictCharField(
        required=False,
        allow_null=True,
        allow_blank=True,
        max_length=TEXT_MAX_LENGTH,
        help_text=_("text questions."),
    )


class SurveyAnswersInSerializer(serializers.Serializer):
    # A ListField, not many=True: a non-list or an empty list is then an error on `answers`
    # itself (a list serializer would name `answers.non_field_errors`).
    answers = serializers.ListField(
        child=AnswerInSerializer(), allow_empty=False, max_length=MAX_ANSWERS
    )
    store_code = StrictCharField(
        max_length=32,
        required=False,
        allow_blank=True,
        default="",
        help_text=_("The store the answers are about, if any."),
    )


# --- Examples ----------------------------------------------------------------------------------

SURVEY_CODE = "after-visit-2026-05"
QUESTIONS_EXAMPLE = [
    {
        "id": 101,
        "position": 1,
        "kind": "nps",
        "text": "How likely are you to recommend us to a friend?",
        "required": True,
        "answer": "score",
        "min": 0,
        "max": 10,
        "max_length": None,
    },
    {
        "id": 102,
        "position": 2,
        "kind": "csat",
        "text": "How satisfied were you with your visit today?",
        "required": True,
        "answer": "score",
        "min": 1,
        "max": 5,
        "max_length": None,
    },
    {
        "id": 103,
        "position": 3,
        "kind": "ces_yes_no",
        "text": "Did anything take more effort than it should have?",
        "required": False,
        "answer": "yes",
        "min": None,
        "max": None,
        "max_length": None,
    },
    {
        "id": 104,
        "position": 4,
        "kind": "text",
        "text": "What is the main reason for your score?",
        "required": False,
        "answer": "text",
        "min": None,
        "max": None,
        "max_length": TEXT_MAX_LENGTH,
    },
]
SURVEY_EXAMPLE = {
    "code": SURVEY_CODE,
    "title": "How was your visit?",
    "description": "Four questions, one minute: 30 points as thanks.",
    "allow_repeat": False,
    "starts_at": "2026-05-01T00:00:00+09:00",
    "ends_at": None,
    "answered": False,
    "times_answered": 0,
    "last_answered_at": None,
    "can_answer": True,
    "questions": QUESTIONS_EXAMPLE,
}
ANSWERS_EXAMPLE = {
    "answers": [
        {"question": 101, "score": 9},
        {"question": 102, "score": 4},
        {"question": 103, "yes": False},
        {"question": 104, "text": "Friendly staff; the queue at the till was long."},
    ],
    "store_code": "TYO01",
}
RESPONSE_EXAMPLE = {
    "id": 5012,
    "survey": SURVEY_CODE,
    "answered_at": "2026-05-01T10:05:00+09:00",
    "store_code": "TYO01",
    "answers": [
        {"question": 101, "kind": "nps", "score": 9, "yes": None, "text": ""},
        {"question": 102, "kind": "csat", "score": 4, "yes": None, "text": ""},
        {"question": 103, "kind": "ces_yes_no", "score": None, "yes": False, "text": ""},
        {
            "question": 104,
            "kind": "text",
            "score": None,
            "yes": None,
            "text": "Friendly staff; the queue at the till was long.",
        },
    ],
}
ALREADY_ANSWERED = field_error(
    "Already answered",
    "survey",
    "This member has already answered this survey.",
    code="survey_already_answered",
)


# --- Views -------------------------------------------------------------------------------------


def _me(request) -> Member:
    return Member.objects.get(pk=request.auth.member_id)


def _open_survey(member: Member, code: str) -> Survey:
    survey = member_surveys(member=member, now=timezone.now()).filter(code=code).first()
    if survey is None:
        raise Http404
    return survey


class MeSurveysView(APIView):
    permission_classes = [IsMember]

    @extend_schema(
        operation_id="me_surveys_list",
        responses={200: MeSurveySerializer(many=True)},
        summary=_("Surveys open now, with their questions and whether the member answered"),
        description=(
            "Active surveys within their dates. A survey answered once is listed with "
            "`can_answer` false unless it allows repeat answers."
        ),
        examples=[OpenApiExample("Open surveys", value=SURVEY_EXAMPLE)],
    )
    def get(self, request):
        surveys = member_surveys(member=_me(request), now=timezone.now())
        return Response([_survey_body(survey) for survey in surveys])


class MeSurveyView(APIView):
    permission_classes = [IsMember]

    @extend_schema(
        operation_id="me_survey_retrieve",
        responses={200: MeSurveySerializer},
        summary=_("One open survey with its questions"),
        description=("404 when no survey with this code is open now."),
        examples=[OpenApiExample("Survey", value=SURVEY_EXAMPLE)],
    )
    def get(self, request, code: str):
        return Response(_survey_body(_open_survey(_me(request), code)))


def _with_answer_checks(survey: Survey, data: SurveyAnswersInSerializer) -> dict:
    """The serializer's errors (JSON types), and the survey's own checks (ranges, unknown
    questions) of the answers it found no fault in: one reply names every wrong answer, not
    the type errors first and the rest on the next try."""
    fields = error_fields(data.errors)
    answers = data.initial_data.get("answers") if isinstance(data.initial_data, dict) else None
    if not isinstance(answers, list):
        return fields
    faulted = {key.split("]")[0] + "]" for key in fields if key.startswith("answers[")}
    try:
        survey_answers_clean(survey=survey, answers=answers)
    except SurveyAnswersInvalid as exc:
        for key, messages in exc.fields.items():
            item = key.split("]")[0] + "]"
            if key.startswith("answers[") and item not in faulted:
                fields.setdefault(key, messages)
    return fields


class MeSurveyAnswersView(APIView):
    permission_classes = [IsMember]

    @extend_schema(
        operation_id="me_survey_answer",
        request=SurveyAnswersInSerializer,
        responses={
            201: SurveyResponseOutSerializer,
            400: error_response(
                field_error(
                    "Score out of range", "answers[0].score", "Must be an integer from 0 to 10."
                ),
                field_error("Required question missing", "answers", "Question 102 is required."),
                field_error(
                    "Unknown question",
                    "answers[1].question",
                    "Question 999 is not part of this survey.",
                ),
                field_error("Unknown store", "store_code", "No store has this code."),
            ),
            409: error_response(ALREADY_ANSWERED),
        },
        summary=_("Answer a survey (once, unless it allows repeat answers)"),
        description=(
            "Every answer is checked against its question: `score` for nps (0-10), nrs (1-5), "
            "csat (its scale: 1-5, 1-10 or 0-100), ces (0-10) and dwb (1-5, 1 = definitely "
            "would buy); `yes` for ces_yes_no; `text` (up to 2,000 characters) for text "
            "questions. Required questions must be answered. The answer emits a "
            "`survey_answered` event that challenges can reward. 404 when no survey with "
            "this code is open now; 409 when the member already answered a once-only survey."
        ),
        examples=[
            OpenApiExample("Answers", request_only=True, value=ANSWERS_EXAMPLE),
            OpenApiExample("Stored", response_only=True, value=RESPONSE_EXAMPLE),
        ],
    )
    def post(self, request, code: str):
        member = _me(request)
        survey = _open_survey(member, code)
        data = SurveyAnswersInSerializer(data=request.data)
        if not data.is_valid():
            raise serializers.ValidationError(_with_answer_checks(survey, data))
        body = data.validated_data
        store = None
        if body["store_code"]:
            store = Store.objects.filter(code=body["store_code"]).first()
            if store is None:
                raise serializers.ValidationError({"store_code": [_("No store has this code.")]})
        try:
            response = survey_answer(
                member=member, survey=survey, answers=body["answers"], store=store
            )
        except SurveyAnswersInvalid as exc:
            raise serializers.ValidationError(exc.fields) from None
        return Response(
            SurveyResponseOutSerializer(survey_response_with_answers(response_id=response.pk)).data,
            status=status.HTTP_201_CREATED,
        )
