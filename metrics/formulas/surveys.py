"""The survey KPIs' arithmetic on aggregated counts and sums (docs/metrics.md, "Survey KPIs").

Plain Python on what the database aggregated: no ORM. Each returns None when there is nothing
to compute from (no answers), never 0: "no answers" and "a score of 0" are different things.
Values are Decimals rounded half up to 4 places (the precision of KpiSnapshot.value).
"""

from decimal import ROUND_HALF_UP, Decimal

PLACES = Decimal("0.0001")
HUNDRED = Decimal(100)
# CSAT scales and the scores each takes: a 5-point scale is 1-5, a 10-point scale 1-10 (ten
# points; "0-10" would be eleven, and the 0-10 questions here are NPS and CES), 100 is 0-100.
CSAT_SCALES = {5: (1, 5), 10: (1, 10), 100: (0, 100)}


def _rounded(value: Decimal) -> Decimal:
    return value.quantize(PLACES, rounding=ROUND_HALF_UP)


def _net(plus: int, minus: int, n: int) -> Decimal | None:
    """% plus - % minus, on -100..100."""
    if n <= 0:
        return None
    return _rounded(Decimal(plus - minus) * HUNDRED / Decimal(n))


def nps(promoters: int, passives: int, detractors: int) -> Decimal | None:
    """Net promoter score: 0-10 answers; 9-10 promoters, 7-8 passives, 0-6 detractors.
    % promoters - % detractors. 5 / 3 / 2 -> 50% - 20% = 30."""
    return _net(promoters, detractors, promoters + passives + detractors)


def nrs(repeaters: int, neutral: int, at_risk: int) -> Decimal | None:
    """Net repeater score: 1-5 answers; 5 repeaters, 4 neutral, 1-3 at risk.
    % repeaters - % at risk."""
    return _net(repeaters, at_risk, repeaters + neutral + at_risk)


def mean(total: Decimal | int, n: int) -> Decimal | None:
    if n <= 0:
        return None
    return _rounded(Decimal(total) / Decimal(n))


def csat_mean(total: Decimal | int, n: int) -> Decimal | None:
    """Mean of the answers normalised to 0-100 (`total` is their sum)."""
    return mean(total, n)


def ces_mean(total: int, n: int) -> Decimal | None:
    """Mean of 0-10 effort scores (lower is better)."""
    return mean(total, n)


def ces_net(no: int, yes: int) -> Decimal | None:
    """ "Did this take effort?" yes/no: % no - % yes (higher is better)."""
    return _net(no, yes, no + yes)


def dwb(top_box: int, n: int) -> Decimal | None:
    """Definitely would buy: the share (percent) answering 1 on the 1-5 scale, where 1 means
    "definitely would buy"."""
    if n <= 0:
        return None
    return _rounded(Decimal(top_box) * HUNDRED / Decimal(n))


def csat_normalise(score: int, scale: int) -> Decimal:
    """A CSAT answer on its scale, on 0-100 (2 places, half up): 5-point (s - 1) / 4 x 100,
    10-point (s - 1) / 9 x 100, 100 as is. The score must be on the scale."""
    low, high = CSAT_SCALES[scale]
    if not low <= score <= high:
        raise ValueError(f"score {score} is not on the {scale}-point scale ({low}-{high})")
    if scale == 100:
        return Decimal(score).quantize(Decimal("0.01"))
    value = Decimal(score - low) * HUNDRED / Decimal(high - low)
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
