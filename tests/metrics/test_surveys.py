"""metrics.services.survey_answer: validation (every error exact, nothing written), once-only
(also under a real race on PostgreSQL), CSAT normalisation, the survey_answered event and the
"survey" preset rewarding it end to end; and the survey admin."""

import datetime as dt
import threading
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from challenges.builtin_types import event_types_ensure_builtin
from challenges.intake import events_doorbell_ring
from challenges.models import Event
from loyalty.errors import MemberNotActive
from members.models import Member
from members.services import member_withdraw
from metrics.models import Answer, Survey, SurveyResponse
from metrics.services import survey_answer
from metrics.survey_errors import SurveyAlreadyAnswered, SurveyAnswersInvalid, SurveyClosed
from tests.admin_support import STORE_STAFF, login, readonly_values, result_pks
from tests.challenges.support import challenge_points, preset, process
from tests.members.factories import MemberFactory, StoreFactory

from .survey_support import JST, answer, q, survey_make

pytestmark = pytest.mark.django_db


def state() -> tuple[int, int, int]:
    return (SurveyResponse.objects.count(), Answer.objects.count(), Event.objects.count())


@pytest.fixture
def full():
    """One question of every kind; the text question is optional."""
    return survey_make(
        "full",
        ("nps",),
        ("nrs",),
        ("csat", {"scale": 5}),
        ("csat", {"scale": 10}),
        ("csat", {"scale": 100}),
        ("ces",),
        ("ces_yes_no",),
        ("dwb",),
        ("text", {"required": False}),
    )


def test_answer_stores_every_kind_normalises_csat_and_emits_the_event(full):
    member, store = MemberFactory(), StoreFactory(code="TYO01")
    when = dt.datetime(2026, 6, 5, 10, 0, tzinfo=JST)

    response = answer(
        member, full, 9, 4, 4, 2, 73, 3, False, 1, "  Kind staff.  ", store=store, answered_at=when
    )

    assert (response.survey, response.member, response.store, response.answered_at) == (
        full,
        member,
        store,
        when,
    )
    assert response.repeat_key == ""
    rows = list(
        Answer.objects.filter(response=response)
        .order_by("question__position")
        .values_list("question__kind", "score", "yes", "text", "normalised")
    )
    assert rows == [
        ("nps", 9, None, "", None),
        ("nrs", 4, None, "", None),
        ("csat", 4, None, "", Decimal("75.00")),  # 5-point: (4 - 1) / 4 x 100
        ("csat", 2, None, "", Decimal("11.11")),  # 10-point is 1-10: (2 - 1) / 9 x 100
        ("csat", 73, None, "", Decimal("73.00")),  # 0-100 as is
        ("ces", 3, None, "", None),
        ("ces_yes_no", None, False, "", None),
        ("dwb", 1, None, "", None),
        ("text", None, None, "Kind staff.", None),  # trimmed
    ]
    event = Event.objects.get()
    assert (
        event.source_key,
        event.client_id,
        event.type.code,
        event.member_id,
        event.store_id,
        event.occurred_at,
        event.payload,
        event.status,
    ) == (
        "surveys",
        f"survey:{response.pk}",
        "survey_answered",
        member.pk,
        store.pk,
        when,
        {"survey": "full", "score": 9},  # the NPS answer's score
        "pending",
    )


@pytest.mark.parametrize(
    ("scale", "score", "normalised"),
    [
        (5, 1, "0.00"),
        (5, 2, "25.00"),
        (5, 5, "100.00"),
        (10, 1, "0.00"),
        (10, 4, "33.33"),
        (10, 7, "66.67"),
        (10, 10, "100.00"),
        (100, 0, "0.00"),
        (100, 100, "100.00"),
    ],
)
def test_csat_normalisation(scale, score, normalised):
    survey = survey_make("csat", ("csat", {"scale": scale}))
    answer(MemberFactory(), survey, score)
    assert Answer.objects.get().normalised == Decimal(normalised)


def test_event_score_is_the_first_scored_answer_without_nps_and_absent_without_scores():
    csat_first = survey_make("s1", ("ces_yes_no",), ("csat", {"scale": 5}), ("dwb",))
    answer(MemberFactory(), csat_first, True, 5, 2)
    yes_no_only = survey_make("s2", ("ces_yes_no",), ("text",))
    answer(MemberFactory(), yes_no_only, True, "Queue")
    assert [e.payload for e in Event.objects.order_by("id")] == [
        {"survey": "s1", "score": 5},
        {"survey": "s2"},
    ]


def test_optional_questions_may_be_skipped_and_blank_optional_text_is_not_stored():
    survey = survey_make("s", ("nps",), ("dwb", {"required": False}), ("text", {"required": False}))
    response = survey_answer(
        member=MemberFactory(),
        survey=survey,
        answers=[
            {"question": q(survey, 1).pk, "score": 0, "yes": None, "text": ""},
            {"question": q(survey, 3).pk, "text": "   "},
        ],
    )
    assert list(response.answers.values_list("question__kind", "score")) == [("nps", 0)]


# --- Every refusal, exact, and nothing written -------------------------------------------------


def _ok(s: Survey) -> list[dict]:
    """Valid answers to every required question of the `errors_survey`."""
    nps, nrs, csat5, csat10, csat100, ces, yes_no, dwb, text = (q(s, i).pk for i in range(1, 10))
    return [
        {"question": nps, "score": 9},
        {"question": nrs, "score": 5},
        {"question": csat5, "score": 5},
        {"question": csat10, "score": 10},
        {"question": csat100, "score": 100},
        {"question": ces, "score": 0},
        {"question": yes_no, "yes": True},
        {"question": dwb, "score": 1},
        {"question": text, "text": "Why"},
    ]


def _cases(s: Survey) -> list[tuple[str, list, dict]]:
    """(case, answers, the exact errors): each case is the valid `_ok` answers with one
    thing wrong."""
    nps, nrs, _c5, _c10, _c100, ces, yes_no, _dwb, text, note = (q(s, i).pk for i in range(1, 11))
    ok = _ok(s)

    def but(index: int, item: dict) -> list:
        return [*ok[:index], item, *ok[index + 1 :]]

    def score(index, value):
        return but(index, {"question": ok[index]["question"], "score": value})

    return [
        ("nps above 10", score(0, 11), {"answers[0].score": ["Must be an integer from 0 to 10."]}),
        ("nps below 0", score(0, -1), {"answers[0].score": ["Must be an integer from 0 to 10."]}),
        (
            "nps not whole",
            score(0, 7.5),
            {"answers[0].score": ["Must be an integer from 0 to 10."]},
        ),
        ("nps a string", score(0, "7"), {"answers[0].score": ["Must be an integer from 0 to 10."]}),
        (
            "nps a boolean",
            score(0, True),
            {"answers[0].score": ["Must be an integer from 0 to 10."]},
        ),
        ("nrs 0", score(1, 0), {"answers[1].score": ["Must be an integer from 1 to 5."]}),
        ("csat 5-point 6", score(2, 6), {"answers[2].score": ["Must be an integer from 1 to 5."]}),
        (
            "csat 10-point 0",
            score(3, 0),
            {"answers[3].score": ["Must be an integer from 1 to 10."]},
        ),
        (
            "csat 100 101",
            score(4, 101),
            {"answers[4].score": ["Must be an integer from 0 to 100."]},
        ),
        ("ces 11", score(5, 11), {"answers[5].score": ["Must be an integer from 0 to 10."]}),
        ("dwb 6", score(7, 6), {"answers[7].score": ["Must be an integer from 1 to 5."]}),
        (
            "score missing",
            but(0, {"question": nps}),
            {"answers[0].score": ["This field is required."]},
        ),
        (
            "yes/no not a boolean",
            but(6, {"question": yes_no, "yes": "no"}),
            {"answers[6].yes": ["Must be true or false."]},
        ),
        (
            "yes/no missing",
            but(6, {"question": yes_no, "score": 1}),
            {
                "answers[6].score": ["A ces_yes_no question is answered with yes."],
                "answers[6].yes": ["This field is required."],
            },
        ),
        (
            "text for a score question",
            but(0, {"question": nps, "score": 9, "text": "Great"}),
            {"answers[0].text": ["A nps question is answered with score."]},
        ),
        (
            "text too long",
            but(8, {"question": text, "text": "x" * 2001}),
            {"answers[8].text": ["Must be at most 2000 characters."]},
        ),
        (
            "text not a string",
            but(8, {"question": text, "text": 5}),
            {"answers[8].text": ["Must be a string."]},
        ),
        (
            "text with NUL",
            but(8, {"question": text, "text": "a\x00b"}),
            {"answers[8].text": ["Must not contain the NUL character."]},
        ),
        (
            "required text blank",
            but(8, {"question": text, "text": "  "}),
            {"answers[8].text": ["This question needs an answer."]},
        ),
        (
            "unknown question",
            [*ok, {"question": 999_999, "score": 1}],
            {"answers[9].question": ["Question 999999 is not part of this survey."]},
        ),
        (
            "question id a string",
            [*ok, {"question": str(note), "text": "x"}],
            {"answers[9].question": ["Must be the id of a question of this survey."]},
        ),
        (
            "question answered twice",
            [*ok, {"question": nps, "score": 3}],
            {"answers[9].question": [f"Question {nps} is answered more than once."]},
        ),
        ("answer not an object", [*ok, 7], {"answers[9]": ["Must be an object."]}),
        (
            "required questions missing",
            ok[2:],
            {"answers": [f"Question {nps} is required.", f"Question {nrs} is required."]},
        ),
        (
            "several at once",
            [{"question": nps, "score": 11}, *ok[1:5], {"question": ces, "score": -2}, *ok[6:]],
            {
                "answers[0].score": ["Must be an integer from 0 to 10."],
                "answers[5].score": ["Must be an integer from 0 to 10."],
            },
        ),
        ("no answers", [], {"answers": ["Answer at least one question."]}),
        ("not a list", {"question": nps}, {"answers": ["Must be a list of answers."]}),
        ("a string", "9", {"answers": ["Must be a list of answers."]}),
    ]


@pytest.fixture
def errors_survey():
    return survey_make(
        "errors",
        ("nps",),
        ("nrs",),
        ("csat", {"scale": 5}),
        ("csat", {"scale": 10}),
        ("csat", {"scale": 100}),
        ("ces",),
        ("ces_yes_no",),
        ("dwb",),
        ("text",),
        ("text", {"required": False}),
    )


CASE_NAMES = [
    "nps above 10",
    "nps below 0",
    "nps not whole",
    "nps a string",
    "nps a boolean",
    "nrs 0",
    "csat 5-point 6",
    "csat 10-point 0",
    "csat 100 101",
    "ces 11",
    "dwb 6",
    "score missing",
    "yes/no not a boolean",
    "yes/no missing",
    "text for a score question",
    "text too long",
    "text not a string",
    "text with NUL",
    "required text blank",
    "unknown question",
    "question id a string",
    "question answered twice",
    "answer not an object",
    "required questions missing",
    "several at once",
    "no answers",
    "not a list",
    "a string",
]


@pytest.mark.parametrize("case", CASE_NAMES)
def test_invalid_answers_are_refused_naming_each_field(errors_survey, case):
    cases = {name: (answers, errors) for name, answers, errors in _cases(errors_survey)}
    assert list(cases) == CASE_NAMES
    answers, expected = cases[case]
    with pytest.raises(SurveyAnswersInvalid) as refused:
        survey_answer(member=MemberFactory(), survey=errors_survey, answers=answers)
    assert refused.value.fields == expected
    first_field, first_messages = next(iter(expected.items()))
    assert (refused.value.code, refused.value.status, refused.value.field) == (
        "invalid",
        400,
        first_field,
    )
    assert refused.value.messages == first_messages
    assert state() == (0, 0, 0)


def test_the_base_of_the_error_cases_is_valid(errors_survey):
    """Each case above fails for its one reason: without it the answers are accepted."""
    response = survey_answer(
        member=MemberFactory(), survey=errors_survey, answers=_ok(errors_survey)
    )
    assert response.answers.count() == 9


def test_only_blank_optional_text_is_no_answer():
    survey = survey_make("s", ("text", {"required": False}))
    with pytest.raises(SurveyAnswersInvalid) as refused:
        survey_answer(
            member=MemberFactory(), survey=survey, answers=[{"question": q(survey, 1).pk}]
        )
    assert refused.value.fields == {"answers": ["Answer at least one question."]}
    assert state() == (0, 0, 0)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"is_active": False}, "This survey is not active."),
        (
            {"starts_at": dt.datetime(2026, 6, 5, 10, 1, tzinfo=JST)},
            "This survey has not started yet.",
        ),
        ({"ends_at": dt.datetime(2026, 6, 5, 10, 0, tzinfo=JST)}, "This survey has ended."),
        ({"ends_at": dt.datetime(2026, 6, 1, tzinfo=JST)}, "This survey has ended."),
    ],
)
def test_a_survey_is_answered_only_while_open(fields, message):
    survey = survey_make("s", ("nps",), **fields)
    with pytest.raises(SurveyClosed) as refused:
        answer(MemberFactory(), survey, 9, answered_at=dt.datetime(2026, 6, 5, 10, 0, tzinfo=JST))
    assert (
        refused.value.code,
        refused.value.status,
        refused.value.field,
        refused.value.message,
    ) == (
        "survey_closed",
        400,
        "survey",
        message,
    )
    assert state() == (0, 0, 0)


def test_open_survey_edges_are_inclusive_start_exclusive_end():
    start = dt.datetime(2026, 6, 1, tzinfo=JST)
    survey = survey_make("s", ("nps",), starts_at=start, ends_at=start + dt.timedelta(days=1))
    answer(MemberFactory(), survey, 9, answered_at=start)
    answer(MemberFactory(), survey, 8, answered_at=start + dt.timedelta(days=1, microseconds=-1))
    assert SurveyResponse.objects.count() == 2


def test_a_member_who_is_not_active_cannot_answer():
    member = MemberFactory()
    member_withdraw(member=member)
    survey = survey_make("s", ("nps",))
    with pytest.raises(MemberNotActive):
        answer(Member.objects.get(pk=member.pk), survey, 9)
    assert state() == (0, 0, 0)


def test_once_only_survey_refuses_a_second_answer_naming_the_survey():
    member, survey = MemberFactory(), survey_make("s", ("nps",))
    answer(member, survey, 9)
    with pytest.raises(SurveyAlreadyAnswered) as refused:
        answer(member, survey, 3)
    assert (
        refused.value.code,
        refused.value.status,
        refused.value.field,
        refused.value.message,
    ) == (
        "survey_already_answered",
        409,
        "survey",
        "This member has already answered this survey.",
    )
    assert state() == (1, 1, 1)
    assert Answer.objects.get().score == 9
    # Another member still may.
    answer(MemberFactory(), survey, 3)
    assert state() == (2, 2, 2)


def test_repeatable_survey_is_answered_again_each_with_its_own_event():
    member, survey = MemberFactory(), survey_make("s", ("nps",), allow_repeat=True)
    first, second = answer(member, survey, 9), answer(member, survey, 4)
    assert first.repeat_key != second.repeat_key and len(first.repeat_key) == 32
    assert sorted(Event.objects.values_list("client_id", flat=True)) == sorted(
        [f"survey:{first.pk}", f"survey:{second.pk}"]
    )


def test_the_doorbell_rings_after_commit(django_capture_on_commit_callbacks):
    survey = survey_make("s", ("nps",))
    with django_capture_on_commit_callbacks() as callbacks:
        answer(MemberFactory(), survey, 9)
    assert callbacks == [events_doorbell_ring]


def test_the_survey_preset_rewards_the_answer_once_end_to_end():
    """Marketer's "survey" preset for survey `visit`; the member answers it (through the
    service, as the API does), the worker processes the event: 30 points, once."""
    preset("survey_answered", survey="visit", points=30)
    member = MemberFactory()
    visit = survey_make("visit", ("nps",), allow_repeat=True)
    other = survey_make("other", ("nps",))
    answer(member, visit, 10)
    answer(member, other, 10)
    answer(member, visit, 2)  # repeatable survey, but the preset rewards once per campaign
    assert process() == 3
    assert challenge_points(member) == [("Answer the survey visit", 30)]
    assert Member.objects.get(pk=member.pk).points_available == 30
    assert set(Event.objects.values_list("status", flat=True)) == {"processed"}


# --- A real race on PostgreSQL -----------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_answers_store_exactly_one():
    event_types_ensure_builtin()
    member, survey = MemberFactory(), survey_make("race", ("nps",))
    barrier = threading.Barrier(2)
    results: list = [None, None]

    def run(i):
        try:
            barrier.wait()
            results[i] = answer(member, survey, 9 - i)
        except Exception as exc:  # noqa: BLE001 - the test inspects what each thread got
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    stored = [r for r in results if isinstance(r, SurveyResponse)]
    refused = [r for r in results if isinstance(r, SurveyAlreadyAnswered)]
    assert (len(stored), len(refused)) == (1, 1), results
    assert state() == (1, 1, 1)
    assert Event.objects.get().client_id == f"survey:{stored[0].pk}"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_constraint_refuses_what_the_check_let_through():
    """Both requests passed the "already answered?" check before either committed: the
    second insert waits for the first and the constraint's error becomes the 409 error."""
    event_types_ensure_builtin()
    member, survey = MemberFactory(), survey_make("race", ("nps",))
    first_checked, first_committed = threading.Event(), threading.Event()
    results: list = [None, None]
    inserts: list[str] = []

    def first():
        try:
            with transaction.atomic():
                results[0] = answer(member, survey, 9)
                first_checked.set()
                first_committed.wait(timeout=5)  # hold the transaction open a moment
        except Exception as exc:  # noqa: BLE001
            results[0] = exc
        finally:
            connection.close()

    def second():
        try:
            first_checked.wait(timeout=10)
            # The first's row is not committed yet: the pre-check sees nothing and the insert
            # waits for the first transaction, which commits a moment later.
            threading.Timer(1.0, first_committed.set).start()
            with CaptureQueriesContext(connection) as queries:
                try:
                    results[1] = answer(member, survey, 3)
                finally:
                    inserts.extend(
                        query["sql"]
                        for query in queries.captured_queries
                        if query["sql"].startswith('INSERT INTO "metrics_surveyresponse"')
                    )
        except Exception as exc:  # noqa: BLE001
            results[1] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert isinstance(results[0], SurveyResponse), results
    assert isinstance(results[1], SurveyAlreadyAnswered), results
    assert len(inserts) == 1  # the second got past the check: the constraint refused it
    assert state() == (1, 1, 1)
    assert Answer.objects.get().score == 9


# --- Admin -------------------------------------------------------------------------------------


def inline_post(survey_fields: dict, questions: list[dict], initial: int = 0) -> dict:
    data = {
        **survey_fields,
        "questions-TOTAL_FORMS": str(len(questions)),
        "questions-INITIAL_FORMS": str(initial),
        "questions-MIN_NUM_FORMS": "0",
        "questions-MAX_NUM_FORMS": "1000",
    }
    for i, question in enumerate(questions):
        for key, value in question.items():
            data[f"questions-{i}-{key}"] = value
    return data


SURVEY_FIELDS = {
    "code": "after-visit",
    "title": "After your visit",
    "description": "",
    "is_active": "on",
    "starts_at_0": "",
    "starts_at_1": "",
    "ends_at_0": "",
    "ends_at_1": "",
}


def test_marketers_create_a_survey_with_questions(marketer):
    client, _user = marketer
    response = client.post(
        reverse("admin:metrics_survey_add"),
        inline_post(
            SURVEY_FIELDS,
            [
                {"position": "1", "kind": "nps", "text": "Recommend us?", "required": "on"},
                {"position": "2", "kind": "csat", "text": "Satisfied?", "scale": "10"},
            ],
        ),
    )
    assert response.status_code == 302, response.context and response.context["errors"]
    survey = Survey.objects.get(code="after-visit")
    assert list(survey.questions.values_list("kind", "text", "scale", "required")) == [
        ("nps", "Recommend us?", None, True),
        ("csat", "Satisfied?", 10, False),
    ]


@pytest.mark.parametrize(
    ("question", "errors"),
    [
        (
            {"position": "1", "kind": "csat", "text": "Satisfied?"},
            {"scale": ["A CSAT question needs a scale: 5, 10 or 100."]},
        ),
        (
            {"position": "1", "kind": "nps", "text": "Recommend?", "scale": "5"},
            {"scale": ["Only CSAT questions have a scale."]},
        ),
        (
            {"position": "1", "kind": "csat", "text": "Satisfied?", "scale": "7"},
            {"scale": ["Select a valid choice. 7 is not one of the available choices."]},
        ),
    ],
)
def test_question_scale_is_checked_in_the_admin(marketer, question, errors):
    client, _user = marketer
    response = client.post(
        reverse("admin:metrics_survey_add"), inline_post(SURVEY_FIELDS, [question])
    )
    assert response.status_code == 200
    formset = response.context["inline_admin_formsets"][0].formset
    assert formset.errors == [errors]
    assert Survey.objects.count() == 0


def test_survey_end_must_follow_its_start_in_the_admin(marketer):
    client, _user = marketer
    fields = {
        **SURVEY_FIELDS,
        "starts_at_0": "2026-06-02",
        "starts_at_1": "00:00:00",
        "ends_at_0": "2026-06-01",
        "ends_at_1": "00:00:00",
    }
    response = client.post(reverse("admin:metrics_survey_add"), inline_post(fields, []))
    assert response.context["adminform"].form.errors == {"ends_at": ["Must be after the start."]}
    assert Survey.objects.count() == 0


def test_an_answered_question_keeps_its_kind_and_the_survey_its_code(marketer):
    client, _user = marketer
    survey = survey_make("visit", ("csat", {"scale": 5, "text": "Satisfied?"}))
    answer(MemberFactory(), survey, 4)
    question = q(survey, 1)
    url = reverse("admin:metrics_survey_change", args=[survey.pk])
    fields = {**SURVEY_FIELDS, "code": "renamed", "title": "Visit"}
    changed_scale = inline_post(
        fields,
        [
            {
                "id": str(question.pk),
                "survey": str(survey.pk),
                "position": "1",
                "kind": "csat",
                "text": "Satisfied?",
                "scale": "10",
                "required": "on",
            }
        ],
        initial=1,
    )
    response = client.post(url, changed_scale)
    assert response.status_code == 200
    assert response.context["inline_admin_formsets"][0].formset.errors == [
        {
            "__all__": [
                "This question has answers: its kind and scale can't change "
                "(add a new question instead)."
            ]
        }
    ]
    same_kind = inline_post(
        fields,
        [
            {
                "id": str(question.pk),
                "survey": str(survey.pk),
                "position": "1",
                "kind": "csat",
                "text": "How satisfied were you?",
                "scale": "5",
                "required": "on",
            }
        ],
        initial=1,
    )
    assert client.post(url, same_kind).status_code == 302
    survey.refresh_from_db()
    question.refresh_from_db()
    # The code is read-only once answered: the posted "renamed" is ignored.
    assert (survey.code, survey.title, question.text, question.scale) == (
        "visit",
        "Visit",
        "How satisfied were you?",
        5,
    )


@pytest.fixture
def answered():
    """Survey `visit` with three responses (two at TYO01), one with a comment."""
    store = StoreFactory(code="TYO01")
    survey = survey_make(
        "visit", ("nps",), ("ces_yes_no", {"required": False}), ("text", {"required": False})
    )
    hanako, taro, jiro = MemberFactory(), MemberFactory(), MemberFactory()
    june = dt.datetime(2026, 6, 5, 10, 0, tzinfo=JST)
    r1 = answer(hanako, survey, 10, False, "Lovely tea.", store=store, answered_at=june)
    r2 = answer(taro, survey, 6, True, None, store=store, answered_at=june + dt.timedelta(days=1))
    r3 = answer(jiro, survey, 8, None, None, answered_at=june + dt.timedelta(days=40))
    return survey, store, (hanako, taro, jiro), (r1, r2, r3)


def test_survey_list_shows_response_counts_and_a_summary_page(marketer, answered):
    client, _user = marketer
    survey, _store, _members, _responses = answered
    survey_make("empty", ("nps",))
    page = client.get(reverse("admin:metrics_survey_changelist"))
    assert page.status_code == 200
    counts = {s.code: s.response_count for s in page.context["cl"].result_list}
    assert counts == {"empty": 0, "visit": 3}

    summary = client.get(reverse("admin:metrics_survey_summary", args=[survey.pk]))
    assert summary.status_code == 200
    rows = {
        row.question.kind: (row.answers, row.mean, row.headline, row.counts)
        for row in summary.context["questions"]
    }
    assert rows == {
        # 10, 6, 8: 1 promoter, 1 passive, 1 detractor -> NPS 0; mean 8.
        "nps": (3, Decimal("8.0000"), Decimal("0.0000"), {"6": 1, "8": 1, "10": 1}),
        # one no, one yes -> net 50% - 50% = 0
        "ces_yes_no": (2, None, Decimal("0.0000"), {"yes": 1, "no": 1}),
        "text": (1, None, None, {}),
    }
    [comment] = summary.context["comments"]
    assert [a.text for a in comment.texts] == ["Lovely tea."]
    assert [(a.question.kind, a.score, a.yes) for a in comment.scores] == [
        ("nps", 10, None),
        ("ces_yes_no", None, False),
    ]
    assert b"Lovely tea." in summary.content
    assert b"3 responses" in summary.content


def test_responses_are_listed_filtered_searched_and_read_only(marketer, answered):
    client, _user = marketer
    survey, store, (hanako, taro, jiro), (r1, r2, r3) = answered
    url = reverse("admin:metrics_surveyresponse_changelist")
    assert result_pks(client.get(url)) == [r3.pk, r2.pk, r1.pk]
    assert result_pks(client.get(url, {"store__id__exact": store.pk})) == [r2.pk, r1.pk]
    assert result_pks(client.get(url, {"survey__id__exact": survey.pk})) == [r3.pk, r2.pk, r1.pk]
    assert result_pks(
        client.get(url, {"answered_at__month": "7", "answered_at__year": "2026"})
    ) == [r3.pk]
    number = taro.member_number
    spaced = f"{number[:4]} {number[4:8]} {number[8:12]} {number[12:]}"
    assert result_pks(client.get(url, {"q": spaced})) == [r2.pk]
    listing = client.get(url).content.decode()
    assert "nps: 10, ces_yes_no: no" in listing and "Lovely tea." in listing

    change = client.get(reverse("admin:metrics_surveyresponse_change", args=[r1.pk]))
    assert change.status_code == 200
    assert readonly_values(change) == {
        "survey": f'<a href="/admin/metrics/survey/{survey.pk}/change/">Visit</a>',
        "member": f'<a href="/admin/members/member/{hanako.pk}/change/">{hanako}</a>',
        "store": f'<a href="/admin/members/store/{store.pk}/change/">{store}</a>',
        "answered_at": "June 5, 2026, 10 a.m.",
    }
    inline = change.context["inline_admin_formsets"][0]
    shown = [
        (
            form.original.question.kind,
            form.original.score,
            form.original.yes,
            form.original.text,
        )
        for form in inline
    ]
    assert shown == [
        ("nps", 10, None, ""),
        ("ces_yes_no", None, False, ""),
        ("text", None, None, "Lovely tea."),
    ]
    assert inline.has_add_permission is False and inline.has_change_permission is False
    # Nobody edits answers: no add page, a change POST is refused, nothing changes.
    assert client.get(reverse("admin:metrics_surveyresponse_add")).status_code == 403
    refused = client.post(
        reverse("admin:metrics_surveyresponse_change", args=[r1.pk]), {"store": ""}
    )
    assert refused.status_code == 403
    delete = client.post(
        reverse("admin:metrics_surveyresponse_delete", args=[r1.pk]), {"post": "yes"}
    )
    assert delete.status_code == 403
    assert SurveyResponse.objects.get(pk=r1.pk).store_id == store.pk
    assert SurveyResponse.objects.count() == 3


def test_store_staff_have_no_survey_pages(answered):
    client, _user = login(group=STORE_STAFF)
    survey, *_rest = answered
    urls = [
        reverse("admin:metrics_survey_changelist"),
        reverse("admin:metrics_survey_summary", args=[survey.pk]),
        reverse("admin:metrics_surveyresponse_changelist"),
    ]
    assert [client.get(url).status_code for url in urls] == [403, 403, 403]


def test_answered_at_defaults_to_now():
    before = timezone.now()
    response = answer(MemberFactory(), survey_make("s", ("nps",)), 9)
    assert before <= response.answered_at <= timezone.now()


def test_an_answered_question_cannot_be_deleted(marketer):
    client, _user = marketer
    survey = survey_make("visit", ("nps", {"text": "Recommend?"}))
    answer(MemberFactory(), survey, 9)
    question = q(survey, 1)
    data = inline_post(
        {**SURVEY_FIELDS, "code": "visit", "title": "Visit"},
        [
            {
                "id": str(question.pk),
                "survey": str(survey.pk),
                "position": "1",
                "kind": "nps",
                "text": "Recommend?",
                "required": "on",
                "DELETE": "on",
            }
        ],
        initial=1,
    )
    response = client.post(reverse("admin:metrics_survey_change", args=[survey.pk]), data)
    assert response.status_code == 200
    formset = response.context["inline_admin_formsets"][0].formset
    assert list(formset.non_form_errors()) == [
        "Deleting question Recommend? would require deleting the following protected related "
        f"objects: answer {question.pk}: 9"
    ]
    assert list(survey.questions.values_list("pk", flat=True)) == [question.pk]
