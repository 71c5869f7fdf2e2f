"""The arithmetic of the behavioural KPIs on aggregated counts (docs/metrics.md).

Plain Python, no Django: the calculators of metrics/kpis/ count and sum in SQL and hand the
totals to these functions.

Rounding: every function computes exactly (integers and fractions, never floats) and rounds
once, at the end, to 4 decimal places (the precision of KpiSnapshot.value) with
ROUND_HALF_UP: a 5 in the fifth decimal rounds away from zero. 1 of 3 members -> 33.3333 %,
2 of 3 -> 66.6667 %. Intermediate values (LTV's average order value, frequency, retention
years) are never rounded before they are multiplied.

Undefined values are None, never 0: a rate over nobody (no buyers, no member active at the
start of the period) has no value, and the dashboard shows a gap rather than a fake zero.
"""

from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

PLACES = 4
_SCALE = 10**PLACES


def quantize(value: Fraction | int | Decimal) -> Decimal:
    """`value` rounded half away from zero to 4 places, exactly (no intermediate float or
    limited-precision division)."""
    fraction = Fraction(value)
    sign = -1 if fraction < 0 else 1
    scaled = abs(fraction) * _SCALE
    whole, rest = divmod(scaled.numerator, scaled.denominator)
    if 2 * rest >= scaled.denominator:
        whole += 1
    return Decimal(sign * whole).scaleb(-PLACES)


def _check_counts(**counts: int) -> None:
    for name, count in counts.items():
        if count < 0:
            raise ValueError(f"{name} must not be negative, got {count}")


def percent(part: int, whole: int) -> Decimal | None:
    """part / whole x 100; None when whole is 0."""
    _check_counts(part=part, whole=whole)
    if part > whole:
        raise ValueError(f"part {part} is more than the whole {whole}")
    if whole == 0:
        return None
    return quantize(Fraction(part * 100, whole))


def churn_rate(*, lost: int, active_at_start: int) -> Decimal | None:
    """Members lost during the period / members active at its start x 100.
    1,000 active at the start, 50 lost -> 5.0000. None when nobody was active at the start."""
    return percent(lost, active_at_start)


def repeat_rate(*, repeaters: int, buyers: int) -> Decimal | None:
    """Members with 2+ purchases in the window / members with 1+ x 100; None without buyers."""
    return percent(repeaters, buyers)


def purchase_frequency(*, purchases: int, buyers: int, years: Fraction | int = 1) -> Decimal | None:
    """Purchases per buying member per year: purchases / buyers / years (the length of the
    window in years; the calculators use a trailing year, so 1). None without buyers."""
    _check_counts(purchases=purchases, buyers=buyers)
    if years <= 0:
        raise ValueError(f"years must be positive, got {years}")
    if buyers == 0:
        return None
    return quantize(Fraction(purchases, buyers) / Fraction(years))


def average_order_value(*, net_sales: int, purchases: int) -> Decimal | None:
    """Net sales (totals minus what was returned) / purchases counted; None without any."""
    _check_counts(net_sales=net_sales, purchases=purchases)
    if purchases == 0:
        return None
    return quantize(Fraction(net_sales, purchases))


def retention_years(*, lost: int, active_at_start: int, max_years: int) -> Fraction | None:
    """Expected remaining membership in years from the observed annual churn c = lost /
    active at the start of the year: 1 / c, capped at `max_years`.

    - No member lost (c = 0): 1 / c is infinite, so the cap: `max_years`.
    - Nobody active at the start of the year (c undefined): None; LTV is then undefined too
      (there is nothing to observe retention on, and guessing the cap would inflate it).
    Example: 200 active, 50 lost -> c = 25 % -> 4 years; 200 active, 10 lost -> 20 years,
    capped at 10.
    """
    _check_counts(lost=lost, active_at_start=active_at_start)
    if lost > active_at_start:
        raise ValueError(f"lost {lost} is more than the {active_at_start} active at the start")
    if max_years <= 0:
        raise ValueError(f"max_years must be positive, got {max_years}")
    if active_at_start == 0:
        return None
    if lost == 0:
        return Fraction(max_years)
    return min(Fraction(active_at_start, lost), Fraction(max_years))


@dataclass(frozen=True, slots=True)
class Ltv:
    value: Decimal | None
    average_order_value: Decimal | None
    purchase_frequency: Decimal | None
    retention_years: Decimal | None
    margin: Decimal


def ltv(
    *,
    net_sales: int,
    purchases: int,
    buyers: int,
    lost: int,
    active_at_start: int,
    margin: Decimal,
    max_years: int,
) -> Ltv:
    """LTV = average order value x margin x purchases per year x retention years, over one
    trailing year: (net_sales / purchases) x margin x (purchases / buyers) x
    min(1 / annual churn, max_years). Computed exactly and rounded once; the parts are
    reported rounded. Undefined (None) without purchases or without anyone active at the start
    of the year.

    Example: 12 purchases for 600,000 yen by 4 buyers (AOV 50,000, frequency 3), margin 0.3,
    10 of 40 lost (4 years): 50,000 x 0.3 x 3 x 4 = 180,000.
    """
    if not Decimal(0) <= margin <= Decimal(1):
        raise ValueError(f"margin must be between 0 and 1, got {margin}")
    _check_counts(net_sales=net_sales, purchases=purchases, buyers=buyers)
    if buyers > purchases:
        raise ValueError(f"{buyers} buyers cannot have made only {purchases} purchases")
    years = retention_years(lost=lost, active_at_start=active_at_start, max_years=max_years)
    aov = Fraction(net_sales, purchases) if purchases else None
    frequency = Fraction(purchases, buyers) if buyers else None
    value = None
    if aov is not None and frequency is not None and years is not None:
        value = quantize(aov * Fraction(margin) * frequency * years)
    return Ltv(
        value=value,
        average_order_value=None if aov is None else quantize(aov),
        purchase_frequency=None if frequency is None else quantize(frequency),
        retention_years=None if years is None else quantize(years),
        margin=margin,
    )


def budget_used(*, granted: int, budget: int | None) -> Decimal | None:
    """Granted / budget x 100 (above 100 if the budget was lowered after granting); None
    without a budget."""
    _check_counts(granted=granted)
    if not budget:
        return None
    return quantize(Fraction(granted * 100, budget))


def difference(a: Decimal | None, b: Decimal | None) -> Decimal | None:
    """a - b (percentage points between two rates); None when either is undefined."""
    if a is None or b is None:
        return None
    return quantize(Fraction(a) - Fraction(b))
