"""Survey KPIs: NPS, NRS, CSAT, CES (mean and net) and DWB over the answers given in a window
(docs/metrics.md, "Survey KPIs").

One SQL statement per window for all of them (`rollup`, shared within a run step): the
answers to questions of the survey KPIs' kinds given in [start, as_of) are the facts,
aggregated for the whole programme, by every member dimension of `segments.DIMENSIONS` (the
member's state on the last measured day), by the store the answer was given at and by
question, each KPI's counts and sums over the answers of its own kind. They go through the
pure formulas of `metrics.formulas.surveys`.

Segments of a survey KPI value (KpiSnapshot.segment):
- "all"; "<dimension>:<value>" for the member dimensions ("store:" is the member's home store,
  as for every KPI);
- "answer_store:<code>": the store the response was given at ("answer_store:unknown": none);
- "question:<id>": one question (CSAT is reported per question this way; details carry the
  survey code, the question text and, for CSAT, the scale).
Only groups with answers get a value; "all" always does (None with n 0 when nobody answered).
`n` is the number of answers; below 100 the value is flagged unreliable (min_reliable_n and
details["reliable"]).
"""

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from functools import partial

from django.db.models import F, QuerySet
from django.utils.translation import gettext_noop

from ..formulas import surveys as formulas
from ..models import Answer, Question
from .base import Kpi, Value, Window, register, shared
from .rollup import rollup, whole
from .segments import DIMENSIONS, local_midnight

MIN_RELIABLE_N = 100
SURVEY_DIMENSIONS = (*DIMENSIONS, "answer_store", "question")
_DAY = dt.timedelta(days=1)

# (aggregated row) -> (value, numerator, denominator, details)
Formula = Callable[[dict], tuple[Decimal | None, Decimal | None, Decimal | None, dict]]


def answers_in(window: Window, *kinds: str) -> QuerySet:
    """One fact row per answer to a question of `kinds` given in [start, as_of) (local
    dates): the member, the store of the response, the question, its kind and the answer."""
    return (
        Answer.objects.filter(
            question__kind__in=kinds,
            response__answered_at__gte=local_midnight(window.start),
            response__answered_at__lt=local_midnight(window.as_of),
        )
        .order_by()
        .values(
            "score",
            "yes",
            "normalised",
            "question_id",
            member_id=F("response__member_id"),
            answer_store=F("response__store__code"),
            kind=F("question__kind"),
        )
    )


def _question_details(ids: list[int]) -> dict[int, dict]:
    details = {}
    for q in Question.objects.filter(pk__in=ids).values("pk", "survey__code", "text", "scale"):
        about = {"survey": q["survey__code"], "question": q["text"]}
        if q["scale"] is not None:
            about["scale"] = q["scale"]
        details[q["pk"]] = about
    return details


@dataclass(frozen=True, slots=True)
class _Measure:
    """A survey KPI's answers (those to questions of `kind`), what it sums over them
    (name -> ("count_if", condition) or ("sum", expression), over the fact columns score,
    yes and normalised; `n` is added) and the formula turning a group's sums into a
    value."""

    kind: str
    sums: dict[str, tuple[str, str]]
    formula: Formula


_MEASURES: dict[str, _Measure] = {}  # by KPI code, filled as the KPIs are defined below
COUNT_IF, SUM = "count_if", "sum"  # a _Measure's operations


def _template(kind: str, operation: str, expression: str) -> str:
    own = f"{{kind}} = '{kind}'"  # a Question.Kind value: a constant, not input
    if operation == COUNT_IF:
        return f"SUM(CASE WHEN {own} AND {expression} THEN 1 ELSE 0 END)"
    return f"SUM(CASE WHEN {own} THEN {expression} END)"


def _grouped(window: Window) -> dict[str, dict]:
    """Every survey KPI's sums for the window's answers in one statement, by segment (the
    answers' facts read once, not once per KPI): "<code>_<name>" per KPI's sum."""
    aggregates = {}
    for code, measure in _MEASURES.items():
        aggregates[f"{code}_n"] = _template(measure.kind, COUNT_IF, "1 = 1")
        for name, (operation, expression) in measure.sums.items():
            aggregates[f"{code}_{name}"] = _template(measure.kind, operation, expression)
    grouped = rollup(
        facts=answers_in(window, *{measure.kind for measure in _MEASURES.values()}),
        aggregates=aggregates,
        at=window.as_of - _DAY,
        fact_dims=("answer_store", "question_id"),
    )
    # The fact column is question_id (an annotation can't be named like the field).
    return {
        segment.replace("question_id:", "question:", 1): row for segment, row in grouped.items()
    }


def values_for(window: Window, code: str) -> list[Value]:
    """KPI `code`'s values for the window: each group with answers of its kind ("all"
    always) turned into a Value through its formula."""
    measure = _MEASURES[code]
    grouped = shared(("survey_answers", window.start, window.as_of), lambda: _grouped(window))
    rows = {}
    for segment, row in grouped.items():
        n = whole(row[f"{code}_n"])
        if n or segment == "all":
            rows[segment] = {"n": n, **{name: row[f"{code}_{name}"] for name in measure.sums}}
    questions = _question_details(
        [int(s.split(":", 1)[1]) for s in rows if s.startswith("question:")]
    )
    out = []
    for segment, row in rows.items():
        n = row["n"]
        value, numerator, denominator, details = measure.formula(row)
        if n == 0:
            numerator = denominator = None
        details = {**details, "reliable": n >= MIN_RELIABLE_N}
        if segment.startswith("question:"):
            details = {**questions[int(segment.split(":", 1)[1])], **details}
        out.append(
            Value(
                segment=segment,
                value=value,
                numerator=numerator,
                denominator=denominator,
                n=n,
                details=details,
            )
        )
    return out


# --- NPS ---------------------------------------------------------------------------------------


def _nps(row: dict):
    n, promoters, detractors = row["n"], whole(row["promoters"]), whole(row["detractors"])
    passives = n - promoters - detractors
    value = formulas.nps(promoters, passives, detractors)
    details = {"promoters": promoters, "passives": passives, "detractors": detractors}
    return value, Decimal(promoters - detractors), Decimal(n), details


# --- NRS ---------------------------------------------------------------------------------------


def _nrs(row: dict):
    n, repeaters, at_risk = row["n"], whole(row["repeaters"]), whole(row["at_risk"])
    neutral = n - repeaters - at_risk
    value = formulas.nrs(repeaters, neutral, at_risk)
    details = {"repeaters": repeaters, "neutral": neutral, "at_risk": at_risk}
    return value, Decimal(repeaters - at_risk), Decimal(n), details


# --- CSAT --------------------------------------------------------------------------------------


def _csat(row: dict):
    # Each normalised answer has 2 places, so their sum has too (SQLite sums them as floats).
    total = Decimal(str(row["total"] or 0)).quantize(Decimal("0.01"))
    return formulas.csat_mean(total, row["n"]), total, Decimal(row["n"]), {}


# --- CES ---------------------------------------------------------------------------------------


def _ces(row: dict):
    total = whole(row["total"])
    return formulas.ces_mean(total, row["n"]), Decimal(total), Decimal(row["n"]), {}


def _ces_net(row: dict):
    no, yes = whole(row["no_count"]), whole(row["yes_count"])
    details = {"no": no, "yes": yes}
    return formulas.ces_net(no, yes), Decimal(no - yes), Decimal(no + yes), details


# --- DWB ---------------------------------------------------------------------------------------


def _dwb(row: dict):
    n, top = row["n"], whole(row["top_box"])
    return formulas.dwb(top, n), Decimal(top), Decimal(n), {"top_box": top}


def _survey_kpi(
    code: str,
    label_: str,
    unit: str,
    measure: _Measure,
    *,
    higher_is_better=True,
) -> Kpi:
    _MEASURES[code] = measure
    return register(
        Kpi(
            code=code,
            label=label_,
            unit=unit,
            compute=partial(values_for, code=code),
            higher_is_better=higher_is_better,
            group="survey",
            dimensions=SURVEY_DIMENSIONS,
            min_reliable_n=MIN_RELIABLE_N,
        )
    )


NPS = _survey_kpi(
    "nps",
    gettext_noop("NPS"),
    "score",
    _Measure(
        Question.Kind.NPS,
        {"promoters": (COUNT_IF, "{score} >= 9"), "detractors": (COUNT_IF, "{score} <= 6")},
        _nps,
    ),
)
NRS = _survey_kpi(
    "nrs",
    gettext_noop("NRS (net repeater score)"),
    "score",
    _Measure(
        Question.Kind.NRS,
        {"repeaters": (COUNT_IF, "{score} = 5"), "at_risk": (COUNT_IF, "{score} <= 3")},
        _nrs,
    ),
)
CSAT = _survey_kpi(
    "csat",
    gettext_noop("CSAT / CSI (mean, 0-100)"),
    "score",
    _Measure(Question.Kind.CSAT, {"total": (SUM, "{normalised}")}, _csat),
)
CES = _survey_kpi(
    "ces",
    gettext_noop("CES (mean effort, 0-10)"),
    "score",
    _Measure(Question.Kind.CES, {"total": (SUM, "{score}")}, _ces),
    higher_is_better=False,
)
CES_NET = _survey_kpi(
    "ces_net",
    gettext_noop("CES net (% no effort - % effort)"),
    "score",
    _Measure(
        Question.Kind.CES_YES_NO,
        {"no_count": (COUNT_IF, "NOT {yes}"), "yes_count": (COUNT_IF, "{yes}")},
        _ces_net,
    ),
)
DWB = _survey_kpi(
    "dwb",
    gettext_noop("DWB (definitely would buy)"),
    "percent",
    _Measure(Question.Kind.DWB, {"top_box": (COUNT_IF, "{score} = 1")}, _dwb),
)
