"""The member app's surveys over HTTP: GET /api/v1/me/surveys, GET /me/surveys/{code},
POST /me/surveys/{code}/answers (exact bodies, statuses and error fields; nothing written on
an error)."""

import datetime as dt

import pytest
from django.utils import timezone

from challenges.models import Event
from members.models import Member
from metrics.me_api import ANSWERS_EXAMPLE, RESPONSE_EXAMPLE, SURVEY_EXAMPLE
from metrics.models import Answer, Survey, SurveyResponse
from tests.challenges.support import challenge_points, integration, member_app, preset, process
from tests.members.factories import MemberFactory, StoreFactory

from .survey_support import answer, q, survey_example_create, survey_make

pytestmark = pytest.mark.django_db


def state() -> tuple[int, int, int]:
    return (SurveyResponse.objects.count(), Answer.objects.count(), Event.objects.count())


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    """Members log in for every test; the production hasher would dominate the runtime."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def member():
    return MemberFactory()


@pytest.fixture
def app(member):
    return member_app(member)


@pytest.fixture
def visit():
    return survey_make(
        "visit",
        ("nps", {"text": "Recommend us?"}),
        ("csat", {"scale": 5, "text": "Satisfied?"}),
        ("ces_yes_no", {"text": "Any effort?", "required": False}),
        ("text", {"text": "Why?", "required": False}),
        title="Your visit",
        description="One minute.",
    )


def survey_body(survey: Survey, **overrides) -> dict:
    questions = list(survey.questions.order_by("position"))
    ranges = {"nps": (0, 10), "nrs": (1, 5), "ces": (0, 10), "dwb": (1, 5)}
    body = {
        "code": survey.code,
        "title": survey.title,
        "description": survey.description,
        "allow_repeat": survey.allow_repeat,
        "starts_at": None,
        "ends_at": None,
        "answered": False,
        "times_answered": 0,
        "last_answered_at": None,
        "can_answer": True,
        "questions": [],
    }
    for question in questions:
        low_high = {5: (1, 5), 10: (1, 10), 100: (0, 100)}.get(question.scale) or ranges.get(
            question.kind
        )
        answer_key = {"text": "text", "ces_yes_no": "yes"}.get(question.kind, "score")
        body["questions"].append(
            {
                "id": question.pk,
                "position": question.position,
                "kind": question.kind,
                "text": question.text,
                "required": question.required,
                "answer": answer_key,
                "min": low_high[0] if low_high else None,
                "max": low_high[1] if low_high else None,
                "max_length": 2000 if answer_key == "text" else None,
            }
        )
    return {**body, **overrides}


def test_list_shows_open_surveys_with_questions(app, visit):
    now = timezone.now()
    survey_make("inactive", ("nps",), is_active=False)
    survey_make("later", ("nps",), starts_at=now + dt.timedelta(hours=1))
    survey_make("over", ("nps",), ends_at=now - dt.timedelta(seconds=1))
    running = survey_make(
        "running",
        ("dwb",),
        starts_at=now - dt.timedelta(days=1),
        ends_at=now + dt.timedelta(days=1),
    )
    response = app.get("/api/v1/me/surveys")
    assert response.status_code == 200
    assert response.json() == [
        survey_body(
            running,
            starts_at=running.starts_at.astimezone().isoformat(),
            ends_at=running.ends_at.astimezone().isoformat(),
        ),
        survey_body(visit),
    ]
    assert response.json()[1]["questions"][1] == {
        "id": q(visit, 2).pk,
        "position": 2,
        "kind": "csat",
        "text": "Satisfied?",
        "required": True,
        "answer": "score",
        "min": 1,
        "max": 5,
        "max_length": None,
    }


def test_list_says_what_the_member_answered(app, member, visit):
    again = survey_make("again", ("nps",), allow_repeat=True)
    first = answer(member, again, 9)
    last = answer(member, again, 7)
    done = answer(member, visit, 10, 5)
    answer(MemberFactory(), survey_make("others", ("nps",)), 5)  # someone else's answer
    data = {s["code"]: s for s in app.get("/api/v1/me/surveys").json()}

    def when(response):
        return timezone.localtime(response.answered_at).isoformat()

    assert first.answered_at < last.answered_at
    assert {
        code: (s["answered"], s["times_answered"], s["last_answered_at"], s["can_answer"])
        for code, s in data.items()
    } == {
        "again": (True, 2, when(last), True),
        "visit": (True, 1, when(done), False),
        "others": (False, 0, None, True),
    }


def test_one_survey_and_404_for_one_not_open(app, visit):
    survey_make("inactive", ("nps",), is_active=False)
    ok = app.get("/api/v1/me/surveys/visit")
    assert (ok.status_code, ok.json()) == (200, survey_body(visit))
    for code in ("inactive", "nope"):
        missing = app.get(f"/api/v1/me/surveys/{code}")
        assert (missing.status_code, missing.json()) == (
            404,
            {"error": {"code": "not_found", "message": "Not found.", "fields": {}}},
        )


def test_answer_is_stored_returned_and_rewarded(app, member, visit):
    preset("survey_answered", survey="visit", points=30)
    StoreFactory(code="TYO01")
    body = {
        "answers": [
            {"question": q(visit, 1).pk, "score": 9},
            {"question": q(visit, 2).pk, "score": 4},
            {"question": q(visit, 3).pk, "yes": False},
            {"question": q(visit, 4).pk, "text": "Friendly staff."},
        ],
        "store_code": "TYO01",
    }
    response = app.post("/api/v1/me/surveys/visit/answers", body, format="json")
    assert response.status_code == 201, response.content
    stored = SurveyResponse.objects.get()
    assert response.json() == {
        "id": stored.pk,
        "survey": "visit",
        "answered_at": timezone.localtime(stored.answered_at).isoformat(),
        "store_code": "TYO01",
        "answers": [
            {"question": q(visit, 1).pk, "kind": "nps", "score": 9, "yes": None, "text": ""},
            {"question": q(visit, 2).pk, "kind": "csat", "score": 4, "yes": None, "text": ""},
            {
                "question": q(visit, 3).pk,
                "kind": "ces_yes_no",
                "score": None,
                "yes": False,
                "text": "",
            },
            {
                "question": q(visit, 4).pk,
                "kind": "text",
                "score": None,
                "yes": None,
                "text": "Friendly staff.",
            },
        ],
    }
    assert (stored.member_id, stored.store.code) == (member.pk, "TYO01")
    event = Event.objects.get()
    assert (event.source_key, event.client_id, event.payload) == (
        "surveys",
        f"survey:{stored.pk}",
        {"survey": "visit", "score": 9},
    )
    assert process() == 1
    assert challenge_points(member) == [("Answer the survey visit", 30)]
    shown = app.get("/api/v1/me/surveys/visit").json()
    assert (shown["answered"], shown["can_answer"]) == (True, False)

    again = app.post("/api/v1/me/surveys/visit/answers", body, format="json")
    assert (again.status_code, again.json()) == (
        409,
        {
            "error": {
                "code": "survey_already_answered",
                "message": "This member has already answered this survey.",
                "fields": {"survey": ["This member has already answered this survey."]},
            }
        },
    )
    assert state() == (1, 4, 1)
    assert Member.objects.get(pk=member.pk).points_available == 30


def test_answer_without_store_and_a_repeatable_survey(app, member):
    survey = survey_make("daily", ("nps",), allow_repeat=True)
    body = {"answers": [{"question": q(survey, 1).pk, "score": 3}]}
    statuses = [
        app.post("/api/v1/me/surveys/daily/answers", body, format="json").status_code
        for _ in range(2)
    ]
    assert statuses == [201, 201]
    assert list(SurveyResponse.objects.values_list("store", "member")) == [(None, member.pk)] * 2
    shown = app.get("/api/v1/me/surveys/daily").json()
    assert (shown["times_answered"], shown["can_answer"]) == (2, True)


def invalid(fields: dict) -> dict:
    first, messages = next(iter(fields.items()))
    return {"error": {"code": "invalid", "message": f"{first}: {messages[0]}", "fields": fields}}


def cases(s: Survey) -> dict[str, tuple[dict, dict]]:
    nps, csat, yes_no, text = (q(s, i).pk for i in range(1, 5))
    ok = [{"question": nps, "score": 9}, {"question": csat, "score": 4}]
    return {
        # The service's checks, as 400s naming the answer's field.
        "score out of range": (
            {"answers": [{"question": nps, "score": 11}, ok[1]]},
            {"answers[0].score": ["Must be an integer from 0 to 10."]},
        ),
        "csat off its scale": (
            {"answers": [ok[0], {"question": csat, "score": 0}]},
            {"answers[1].score": ["Must be an integer from 1 to 5."]},
        ),
        "required question missing": (
            {"answers": [ok[0]]},
            {"answers": [f"Question {csat} is required."]},
        ),
        "unknown question": (
            {"answers": [*ok, {"question": 999_999, "text": "x"}]},
            {"answers[2].question": ["Question 999999 is not part of this survey."]},
        ),
        "answered twice": (
            {"answers": [*ok, {"question": nps, "score": 1}]},
            {"answers[2].question": [f"Question {nps} is answered more than once."]},
        ),
        "wrong value for the kind": (
            {"answers": [*ok, {"question": yes_no, "text": "no"}]},
            {
                "answers[2].text": ["A ces_yes_no question is answered with yes."],
                "answers[2].yes": ["This field is required."],
            },
        ),
        "unknown store": (
            {"answers": ok, "store_code": "NOPE"},
            {"store_code": ["No store has this code."]},
        ),
        # The serializer's: JSON types as the schema says.
        "score a string": (
            {"answers": [{"question": nps, "score": "9"}, ok[1]]},
            {"answers[0].score": ["A valid integer is required."]},
        ),
        "yes a string": (
            {"answers": [*ok, {"question": yes_no, "yes": "true"}]},
            {"answers[2].yes": ["Must be a valid boolean."]},
        ),
        "text a number": (
            {"answers": [*ok, {"question": text, "text": 5}]},
            {"answers[2].text": ["Not a valid string."]},
        ),
        "text too long": (
            {"answers": [*ok, {"question": text, "text": "x" * 2001}]},
            {"answers[2].text": ["Ensure this field has no more than 2000 characters."]},
        ),
        "question missing": (
            {"answers": [{"score": 9}, ok[1]]},
            {"answers[0].question": ["This field is required."]},
        ),
        "question id 0": (
            {"answers": [{"question": 0, "score": 9}, ok[1]]},
            {"answers[0].question": ["Ensure this value is greater than or equal to 1."]},
        ),
        # Both at once: the survey's checks of the answers the serializer found no fault in
        # are in the same reply (answer 2's range error, not answer 1's range too).
        "a type error beside a range error": (
            {"answers": [{"question": nps, "score": "9"}, {"question": csat, "score": 7}]},
            {
                "answers[0].score": ["A valid integer is required."],
                "answers[1].score": ["Must be an integer from 1 to 5."],
            },
        ),
        "no answers": ({"answers": []}, {"answers": ["This list may not be empty."]}),
        "answers missing": ({}, {"answers": ["This field is required."]}),
        "answers not a list": (
            {"answers": {"question": nps}},
            {"answers": ['Expected a list of items but got type "dict".']},
        ),
    }


CASES = [
    "score out of range",
    "csat off its scale",
    "required question missing",
    "unknown question",
    "answered twice",
    "wrong value for the kind",
    "unknown store",
    "score a string",
    "yes a string",
    "text a number",
    "text too long",
    "question missing",
    "question id 0",
    "a type error beside a range error",
    "no answers",
    "answers missing",
    "answers not a list",
]


@pytest.mark.parametrize("case", CASES)
def test_bad_answers_are_400s_naming_the_field(app, visit, case):
    StoreFactory(code="TYO01")
    every = cases(visit)
    assert list(every) == CASES
    body, fields = every[case]
    response = app.post("/api/v1/me/surveys/visit/answers", body, format="json")
    assert (response.status_code, response.json()) == (400, invalid(fields))
    assert state() == (0, 0, 0)


def test_answers_to_a_survey_not_open_are_404(app):
    now = timezone.now()
    closed = [
        survey_make("inactive", ("nps",), is_active=False),
        survey_make("later", ("nps",), starts_at=now + dt.timedelta(hours=1)),
        survey_make("over", ("nps",), ends_at=now - dt.timedelta(seconds=1)),
    ]
    for survey in closed:
        body = {"answers": [{"question": q(survey, 1).pk, "score": 9}]}
        response = app.post(f"/api/v1/me/surveys/{survey.code}/answers", body, format="json")
        assert (response.status_code, response.json()["error"]["code"]) == (404, "not_found")
    assert app.post("/api/v1/me/surveys/nope/answers", {}, format="json").status_code == 404
    assert state() == (0, 0, 0)


def test_another_members_answer_does_not_count_as_mine(app, member, visit):
    """Answered by B: A still sees it open and answers it; the body can't name B."""
    b = MemberFactory()
    answer(b, visit, 3, 1)
    assert app.get("/api/v1/me/surveys/visit").json()["answered"] is False
    body = {
        "answers": [
            {"question": q(visit, 1).pk, "score": 9},
            {"question": q(visit, 2).pk, "score": 5},
        ],
        "member": b.pk,
        "member_number": b.member_number,
    }
    response = app.post(
        f"/api/v1/me/surveys/visit/answers?member_number={b.member_number}", body, format="json"
    )
    assert response.status_code == 201
    assert sorted(SurveyResponse.objects.values_list("member_id", flat=True)) == sorted(
        [member.pk, b.pk]
    )
    assert SurveyResponse.objects.get(pk=response.json()["id"]).member_id == member.pk


def test_integration_keys_cannot_reach_member_surveys(visit):
    client = integration("events:write", "events:read")
    assert client.get("/api/v1/me/surveys").status_code == 403
    body = {"answers": [{"question": q(visit, 1).pk, "score": 9}]}
    assert client.post("/api/v1/me/surveys/visit/answers", body, format="json").status_code == 403
    assert state() == (0, 0, 0)


def test_the_schema_examples_answer_the_example_survey(app):
    """The request example of the schema is accepted by the survey schemathesis creates, and
    the response has the example's shape (only ids and times differ)."""
    survey_example_create()
    StoreFactory(code="TYO01")
    shown = app.get(f"/api/v1/me/surveys/{SURVEY_EXAMPLE['code']}").json()
    assert {k: v for k, v in shown.items() if k != "starts_at"} == {
        k: v for k, v in SURVEY_EXAMPLE.items() if k != "starts_at"
    }
    response = app.post(
        f"/api/v1/me/surveys/{SURVEY_EXAMPLE['code']}/answers", ANSWERS_EXAMPLE, format="json"
    )
    assert response.status_code == 201
    data = response.json()
    assert {**data, "id": 5012, "answered_at": RESPONSE_EXAMPLE["answered_at"]} == RESPONSE_EXAMPLE
