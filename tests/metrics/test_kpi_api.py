"""GET /api/v1/kpis: filters, pagination, targets, errors naming the parameter, and who may
read what (scope kpis:read; a store-bound key only its store's segment)."""

import datetime as dt
import json
from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from members.api_keys import api_key_create
from members.member_tokens import member_token_login
from members.passwords import member_login_create
from metrics.models import KpiTarget
from tests.members.factories import MemberFactory, StoreFactory
from tests.metrics.dashboard_support import KpiTargetFactory, pinned_registry, snap

pytestmark = pytest.mark.django_db

URL = "/api/v1/kpis"
APR, MAY, JUN = dt.date(2026, 4, 1), dt.date(2026, 5, 1), dt.date(2026, 6, 1)


@pytest.fixture(autouse=True)
def _kpis():
    with pinned_registry():
        yield


def client_with(*scopes, store=None) -> APIClient:
    _key, raw = api_key_create(name="BI", scopes=list(scopes), store=store)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")
    return client


@pytest.fixture
def world():
    snap("nps", APR, "30", n=120)
    snap(
        "nps",
        MAY,
        "33.25",
        n=150,
        numerator=50,
        denominator=150,
        details={"promoters": 45, "passives": 43, "detractors": 12},
    )
    snap("nps", MAY, "40", segment="store:TYO01", n=60)
    snap("nps", APR, "28", period="quarter", n=400)
    snap("churn_rate", MAY, "5", n=1100)
    snap("members", MAY, "1250", n=1250)
    KpiTargetFactory(
        kpi="nps", period_start=MAY, kind=KpiTarget.Kind.CHANGE, value=5, note="NPS +5"
    )


def keys(response) -> list[tuple]:
    return [(r["kpi"], r["segment"], r["period"], r["period_start"]) for r in response["results"]]


def test_a_row_in_full(world):
    response = client_with("kpis:read").get(
        URL, {"kpi": "nps", "period": "month", "from": "2026-05-01"}
    )
    assert response.status_code == 200
    assert response.json() == {
        "count": 2,
        "next": None,
        "previous": None,
        "results": [
            {
                "kpi": "nps",
                "label": "NPS",
                "unit": "score",
                "segment": "all",
                "period": "month",
                "period_start": "2026-05-01",
                "period_end": "2026-05-31",
                "value": 33.25,
                "numerator": 50.0,
                "denominator": 150.0,
                "n": 150,
                "reliable": True,
                "details": {"promoters": 45, "passives": 43, "detractors": 12},
                "target": {"kind": "change", "value": 5.0, "note": "NPS +5"},
                "computed_at": response.json()["results"][0]["computed_at"],
            },
            {
                "kpi": "nps",
                "label": "NPS",
                "unit": "score",
                "segment": "store:TYO01",
                "period": "month",
                "period_start": "2026-05-01",
                "period_end": "2026-05-31",
                "value": 40.0,
                "numerator": None,
                "denominator": None,
                "n": 60,
                "reliable": False,  # 60 answers, NPS needs 100
                "details": {},
                "target": None,
                "computed_at": response.json()["results"][1]["computed_at"],
            },
        ],
    }


def test_whole_numbers_are_integers_in_the_json(world):
    response = client_with("kpis:read").get(URL, {"period": "month", "from": "2026-05-01"})
    # Parsed with decimals kept apart, so 1250 and 1250.0 differ as they do on the wire.
    rows = {
        (r["kpi"], r["segment"]): r
        for r in json.loads(response.content, parse_float=Decimal)["results"]
    }
    members, nps = rows[("members", "all")], rows[("nps", "all")]
    assert (type(members["value"]), members["value"]) == (int, 1250)
    assert (type(nps["value"]), nps["value"]) == (Decimal, Decimal("33.25"))
    assert [type(nps[f]) for f in ("numerator", "denominator")] == [int, int]
    assert (type(nps["target"]["value"]), nps["target"]["value"]) == (int, 5)
    assert type(rows[("nps", "store:TYO01")]["value"]) is int  # stored as 40.0000


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        (
            {},
            [
                ("churn_rate", "all", "month", "2026-05-01"),
                ("members", "all", "month", "2026-05-01"),
                ("nps", "all", "month", "2026-04-01"),
                ("nps", "all", "month", "2026-05-01"),
                ("nps", "all", "quarter", "2026-04-01"),
                ("nps", "store:TYO01", "month", "2026-05-01"),
            ],
        ),
        ({"kpi": "members"}, [("members", "all", "month", "2026-05-01")]),
        ({"segment": "store:TYO01"}, [("nps", "store:TYO01", "month", "2026-05-01")]),
        (
            {"kpi": "nps", "segment": "all", "period": "month"},
            [("nps", "all", "month", "2026-04-01"), ("nps", "all", "month", "2026-05-01")],
        ),
        ({"period": "quarter"}, [("nps", "all", "quarter", "2026-04-01")]),
        (
            {"kpi": "nps", "from": "2026-04-01", "to": "2026-04-30"},
            [("nps", "all", "month", "2026-04-01"), ("nps", "all", "quarter", "2026-04-01")],
        ),
        ({"to": "2026-03-31"}, []),
        ({"kpi": "", "segment": "", "period": ""}, None),  # empty values are no filter
    ],
)
def test_filters(world, params, expected):
    response = client_with("kpis:read").get(URL, params)
    assert response.status_code == 200
    everything = client_with("kpis:read").get(URL).json()
    assert keys(response.json()) == (keys(everything) if expected is None else expected)


def test_pages(world):
    client = client_with("kpis:read")
    first = client.get(URL, {"page_size": 4}).json()
    second = client.get(URL, {"page_size": 4, "page": 2}).json()
    assert (first["count"], len(first["results"]), len(second["results"])) == (6, 4, 2)
    assert first["next"] == "http://testserver/api/v1/kpis?page=2&page_size=4"
    assert client.get(URL, {"page": 3, "page_size": 4}).status_code == 404


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        (
            {"kpi": "happiness"},
            "kpi",
            "Unknown KPI happiness: use a KPI code from docs/metrics.md.",
        ),
        ({"kpi": "x\x00"}, "kpi", "Unknown KPI ?: use a KPI code from docs/metrics.md."),
        # A "%" typed by the caller is text, not a placeholder (schemathesis found a 500).
        ({"kpi": "$%^&"}, "kpi", "Unknown KPI $%^&: use a KPI code from docs/metrics.md."),
        (
            {"segment": "TYO01"},
            "segment",
            'Use "all" or "<dimension>:<value>", e.g. "tier:gold" (at most 80 characters).',
        ),
        (
            {"segment": "store:\x00"},
            "segment",
            'Use "all" or "<dimension>:<value>", e.g. "tier:gold" (at most 80 characters).',
        ),
        (
            {"segment": "planet:mars"},
            "segment",
            "Unknown dimension planet: use one of segment, tier, store, cohort, age, gender, "
            "channel, challenge, answer_store, question.",
        ),
        (
            {"period": "year"},
            "period",
            "Select a valid choice. year is not one of the available choices.",
        ),
        ({"from": "2026-02-30"}, "from", "Enter a valid date."),
        ({"to": "yesterday"}, "to", "Enter a valid date."),
        ({"from": "2026-06-01", "to": "2026-05-01"}, "to", "Must not be before from."),
        ({"page_size": "0"}, "page_size", "Enter a positive integer."),
    ],
)
def test_bad_parameters_are_400s_naming_them(world, params, field, message):
    response = client_with("kpis:read").get(URL, params)
    assert response.status_code == 400
    messages = [message]
    if "\x00" in "".join(params.values()):  # Django's own check comes second
        messages.append("Null characters are not allowed.")
    assert response.json() == {
        "error": {"code": "invalid", "message": f"{field}: {message}", "fields": {field: messages}}
    }


def test_scope_and_credentials():
    assert APIClient().get(URL).status_code == 401
    assert client_with("members:read", "events:write").get(URL).status_code == 403
    member = MemberFactory()
    member_login_create(member=member, password="kumo-no-ue-2026")
    _token, raw = member_token_login(login=member.member_number, password="kumo-no-ue-2026")
    app = APIClient()
    app.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    response = app.get(URL)
    assert (response.status_code, response.json()["error"]["code"]) == (403, "permission_denied")


def test_a_store_bound_key_reads_only_its_store(world):
    tyo = StoreFactory(code="TYO01")
    client = client_with("kpis:read", store=tyo)
    own = client.get(URL, {"segment": "store:TYO01"})
    assert (own.status_code, keys(own.json())) == (
        200,
        [("nps", "store:TYO01", "month", "2026-05-01")],
    )
    for params in ({}, {"segment": "all"}, {"segment": "store:OSA01"}, {"kpi": "nps"}):
        response = client.get(URL, params)
        assert response.status_code == 403, params
        assert response.json()["error"] == {
            "code": "permission_denied",
            "message": "This API key may act only for store TYO01.",
            "fields": {},
        }
