"""Survey KPIs: NPS, NRS, CSAT, CES (mean and net) and DWB over the answers given in a window
(docs/metrics.md, "Survey KPIs").

One SQL statement per KPI and window (`rollup`): the answers to questions of the KPI's kind
given in [start, as_of) are the facts, aggregated for the whole programme, by every member
dimension of `segments.DIMENSIONS` (the member's state on the last measured day), by the store
the answer was given at and by question. The counts and sums go through the pure formulas of
`metrics.formulas.surveys`.

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
from decimal import Decimal

from django.db.models import F, QuerySet
from django.utils.translation import gettext_noop

from ..formulas import surveys as formulas
from ..models import Answer, Question
from .base import Kpi, Value, Window, register
from .rollup import rollup, whole
from .segments import DIMENSIONS, local_midnight

MIN_RELIABLE_N = 100
SURVEY_DIMENSIONS = (*DIMENSIONS, "answer_store", "question")
_DAY = dt.timedelta(days=1)

# (aggregated row) -> (value, numerator, denominator, details)
Formula = Callable[[dict], tuple[Decimal | None, Decimal | None, Decimal | None, dict]]


def answers_in(window: Window, *kinds: str) -> QuerySet:
    """One fact row per answer to a question of `kinds` given in [start, as_of) (local
    dates): the member, the store of the response, the question and the answer."""
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


def values_for(
    window: Window, kinds: tuple[str, ...], aggregates: dict[str, str], formula: Formula
) -> list[Value]:
    """Aggregate the window's answers to `kinds` (SQL templates over the fact columns score,
    yes, normalised; `n` is added) and turn each group into a Value through `formula`."""
    grouped = rollup(
        facts=answers_in(window, *kinds),
        aggregates={"n": "COUNT(*)", **aggregates},
        at=window.as_of - _DAY,
        fact_dims=("answer_store", "question_id"),
    )
    # The fact column is question_id (an annotation can't be named like the field).
    rows = {
        segment.replace("question_id:", "question:", 1): row for segment, row in grouped.items()
    }
    questions = _question_details(
        [int(s.split(":", 1)[1]) for s in rows if s.startswith("question:")]
    )
    out = []
    for segment, row in rows.items():
        n = whole(row["n"])
        value, numerator, denominator, details = formula({**row, "n": n})
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


def _count_if(condition: str) -> str:
    return f"SUM(CASE WHEN {condition} THEN 1 ELSE 0 END)"


# --- NPS ---------------------------------------------------------------------------------------


def _nps(row: dict):
    n, promoters, detractors = row["n"], whole(row["promoters"]), whole(row["detractors"])
    passives = n - promoters - detractors
    value = formulas.nps(promoters, passives, detractors)
    details = {"promoters": promoters, "passives": passives, "detractors": detractors}
    return value, Decimal(promoters - detractors), Decimal(n), details


def nps_compute(window: Window) -> list[Value]:
    return values_for(
        window,
        (Question.Kind.NPS,),
        {"promoters": _count_if("{score} >= 9"), "detractors": _count_if("{score} <= 6")},
        _nps,
    )


# --- NRS ---------------------------------------------------------------------------------------


def _nrs(row: dict):
    n, repeaters, at_risk = row["n"], whole(row["repeaters"]), whole(row["at_risk"])
    neutral = n - repeaters - at_risk
    value = formulas.nrs(repeaters, neutral, at_risk)
    details = {"repeaters": repeaters, "neutral": neutral, "at_risk": at_risk}
    return value, Decimal(repeaters - at_risk), Decimal(n), details


def nrs_compute(window: Window) -> list[Value]:
    return values_for(
        window,
        (Question.Kind.NRS,),
        {"repeaters": _count_if("{score} = 5"), "at_risk": _count_if("{score} <= 3")},
        _nrs,
    )


# --- CSAT --------------------------------------------------------------------------------------


def _csat(row: dict):
    # Each normalised answer has 2 places, so their sum has too (SQLite sums them as floats).
    total = Decimal(str(row["total"] or 0)).quantize(Decimal("0.01"))
    return formulas.csat_mean(total, row["n"]), total, Decimal(row["n"]), {}


def csat_compute(window: Window) -> list[Value]:
    return values_for(window, (Question.Kind.CSAT,), {"total": "SUM({normalised})"}, _csat)


# --- CES ---------------------------------------------------------------------------------------


def _ces(row: dict):
    total = whole(row["total"])
    return formulas.ces_mean(total, row["n"]), Decimal(total), Decimal(row["n"]), {}


def ces_compute(window: Window) -> list[Value]:
    return values_for(window, (Question.Kind.CES,), {"total": "SUM({score})"}, _ces)


def _ces_net(row: dict):
    no, yes = whole(row["no_count"]), whole(row["yes_count"])
    details = {"no": no, "yes": yes}
    return formulas.ces_net(no, yes), Decimal(no - yes), Decimal(no + yes), details


def ces_net_compute(window: Window) -> list[Value]:
    return values_for(
        window,
        (Question.Kind.CES_YES_NO,),
        {"no_count": _count_if("NOT {yes}"), "yes_count": _count_if("{yes}")},
        _ces_net,
    )


# --- DWB ---------------------------------------------------------------------------------------


def _dwb(row: dict):
    n, top = row["n"], whole(row["top_box"])
    return formulas.dwb(top, n), Decimal(top), Decimal(n), {"top_box": top}


def dwb_compute(window: Window) -> list[Value]:
    return values_for(window, (Question.Kind.DWB,), {"top_box": _count_if("{score} = 1")}, _dwb)


def _survey_kpi(code: str, label_: str, unit: str, compute, *, higher_is_better=True) -> Kpi:
    return register(
        Kpi(
            code=code,
            label=label_,
            unit=unit,
            compute=compute,
            higher_is_better=higher_is_better,
            group="survey",
            dimensions=SURVEY_DIMENSIONS,
            min_reliable_n=MIN_RELIABLE_N,
        )
    )


NPS = _survey_kpi("nps", gettext_noop("NPS"), "score", nps_compute)
NRS = _survey_kpi("nrs", gettext_noop("NRS (net repeater score)"), "score", nrs_compute)
CSAT = _survey_kpi("csat", gettext_noop("CSAT / CSI (mean, 0-100)"), "score", csat_compute)
CES = _survey_kpi(
    "ces", gettext_noop("CES (mean effort, 0-10)"), "score", ces_compute, higher_is_better=False
)
CES_NET = _survey_kpi(
    "ces_net", gettext_noop("CES net (% no effort - % effort)"), "score", ces_net_compute
)
DWB = _survey_kpi("dwb", gettext_noop("DWB (definitely would buy)"), "percent", dwb_compute)
