"""The behavioural KPI arithmetic (metrics/formulas/behaviour.py): hand-computed values,
the rounding rule, undefined values and properties over random counts."""

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from metrics.formulas import behaviour as f

counts = st.integers(min_value=0, max_value=10**9)


def test_churn_rate_domain_example():
    # DOMAIN.md: 1,000 at the start, 50 lost in the month -> 5 %.
    assert f.churn_rate(lost=50, active_at_start=1000) == Decimal("5.0000")


def test_rates_round_half_up_to_four_places():
    # 1/3 = 33.33333.. -> 33.3333; 2/3 = 66.66666.. -> 66.6667.
    assert f.repeat_rate(repeaters=1, buyers=3) == Decimal("33.3333")
    assert f.repeat_rate(repeaters=2, buyers=3) == Decimal("66.6667")
    # 1/32 = 3.125 % exactly; 1 of 2,000,000 = 0.00005 %: a 5 in the 5th place goes up.
    assert f.percent(1, 32) == Decimal("3.1250")
    assert f.percent(1, 2_000_000) == Decimal("0.0001")
    assert f.percent(1, 2_000_001) == Decimal("0.0000")
    # Half away from zero on negative differences too: -0.00005 -> -0.0001.
    assert f.quantize(Fraction(-1, 20_000)) == Decimal("-0.0001")
    assert f.quantize(Fraction(1, 20_000)) == Decimal("0.0001")


def test_undefined_rates_are_none_not_zero():
    assert f.churn_rate(lost=0, active_at_start=0) is None
    assert f.repeat_rate(repeaters=0, buyers=0) is None
    assert f.purchase_frequency(purchases=0, buyers=0) is None
    assert f.average_order_value(net_sales=0, purchases=0) is None
    assert f.budget_used(granted=10, budget=None) is None
    # Zero is a value when there is a base.
    assert f.churn_rate(lost=0, active_at_start=7) == Decimal("0.0000")


def test_frequency_and_aov():
    # 7 purchases by 2 buyers in a year: 3.5 a year; over half a year: 7 a year.
    assert f.purchase_frequency(purchases=7, buyers=2) == Decimal("3.5000")
    assert f.purchase_frequency(purchases=7, buyers=2, years=Fraction(1, 2)) == Decimal("7.0000")
    # 3 purchases for 10,000 yen net: 3,333.3333.
    assert f.average_order_value(net_sales=10_000, purchases=3) == Decimal("3333.3333")


def test_retention_years_from_annual_churn():
    # 50 of 200 lost: churn 25 % -> 4 years.
    assert f.retention_years(lost=50, active_at_start=200, max_years=10) == 4
    # 10 of 200: 20 years, capped at 10.
    assert f.retention_years(lost=10, active_at_start=200, max_years=10) == 10
    # Nobody lost: infinite, so the cap; nobody at the start: undefined.
    assert f.retention_years(lost=0, active_at_start=200, max_years=10) == 10
    assert f.retention_years(lost=0, active_at_start=0, max_years=10) is None
    # 3 of 7: 7/3 years, kept exact (not 2.3333).
    assert f.retention_years(lost=3, active_at_start=7, max_years=10) == Fraction(7, 3)


def test_ltv_example_from_the_docstring():
    # 12 purchases, 600,000 yen net, 4 buyers: AOV 50,000, 3 a year; margin 0.3; 10 of 40
    # lost: 4 years. 50,000 x 0.3 x 3 x 4 = 180,000.
    result = f.ltv(
        net_sales=600_000,
        purchases=12,
        buyers=4,
        lost=10,
        active_at_start=40,
        margin=Decimal("0.3"),
        max_years=10,
    )
    assert result.value == Decimal("180000.0000")
    assert result.average_order_value == Decimal("50000.0000")
    assert result.purchase_frequency == Decimal("3.0000")
    assert result.retention_years == Decimal("4.0000")


def test_ltv_rounds_once_at_the_end():
    # AOV 1000/3, frequency 3/2, margin 0.3, 7/3 years: exactly
    # 1000/3 x 3/10 x 3/2 x 7/3 = 350 (rounding the parts first would give 349.99..).
    result = f.ltv(
        net_sales=1000,
        purchases=3,
        buyers=2,
        lost=3,
        active_at_start=7,
        margin=Decimal("0.3"),
        max_years=10,
    )
    assert result.value == Decimal("350.0000")
    assert result.average_order_value == Decimal("333.3333")
    assert result.retention_years == Decimal("2.3333")


def test_ltv_undefined_without_purchases_or_churn_base():
    kwargs = {"margin": Decimal("0.3"), "max_years": 10}
    assert (
        f.ltv(net_sales=0, purchases=0, buyers=0, lost=1, active_at_start=4, **kwargs).value is None
    )
    no_base = f.ltv(net_sales=900, purchases=3, buyers=1, lost=0, active_at_start=0, **kwargs)
    assert no_base.value is None
    assert no_base.average_order_value == Decimal("300.0000")
    assert no_base.retention_years is None


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: f.percent(3, 2), "part 3 is more than the whole 2"),
        (lambda: f.percent(-1, 2), "part must not be negative"),
        (lambda: f.retention_years(lost=1, active_at_start=1, max_years=0), "max_years"),
        (
            lambda: f.ltv(
                net_sales=1,
                purchases=1,
                buyers=1,
                lost=0,
                active_at_start=1,
                margin=Decimal("1.5"),
                max_years=10,
            ),
            "margin must be between 0 and 1",
        ),
        (
            lambda: f.ltv(
                net_sales=1,
                purchases=1,
                buyers=2,
                lost=0,
                active_at_start=1,
                margin=Decimal("0.3"),
                max_years=10,
            ),
            "2 buyers cannot have made only 1 purchases",
        ),
    ],
)
def test_impossible_counts_are_refused(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_budget_used_and_difference():
    assert f.budget_used(granted=250, budget=1000) == Decimal("25.0000")
    assert f.budget_used(granted=1200, budget=1000) == Decimal("120.0000")  # budget lowered
    assert f.difference(Decimal("40.0000"), Decimal("25.5000")) == Decimal("14.5000")
    assert f.difference(None, Decimal("1")) is None


@given(part=counts, extra=counts)
def test_percent_is_exact_rounding_of_the_fraction(part, extra):
    whole = part + extra
    result = f.percent(part, whole)
    if whole == 0:
        assert result is None
        return
    assert Decimal(0) <= result <= Decimal(100)
    # Within half a unit of the 4th place of the exact value, and a multiple of it.
    exact = Fraction(part * 100, whole)
    assert abs(Fraction(result) - exact) <= Fraction(1, 20_000)
    assert result == result.quantize(Decimal("0.0001"))


@given(lost=counts, kept=counts, max_years=st.integers(min_value=1, max_value=100))
def test_retention_years_never_exceed_the_cap_and_fall_with_churn(lost, kept, max_years):
    base = lost + kept
    years = f.retention_years(lost=lost, active_at_start=base, max_years=max_years)
    if base == 0:
        assert years is None
        return
    assert 0 < years <= max_years
    if lost:
        more_lost = f.retention_years(lost=lost + 1, active_at_start=base + 1, max_years=max_years)
        # One more member lost out of one more at the start never lengthens retention.
        assert more_lost <= years


@given(
    purchases=st.integers(min_value=1, max_value=10**6),
    buyers_share=st.integers(min_value=1, max_value=10**6),
    net=counts,
    lost=counts,
    kept=st.integers(min_value=1, max_value=10**6),
)
def test_ltv_is_spend_per_buyer_times_margin_times_years(purchases, buyers_share, net, lost, kept):
    buyers = min(buyers_share, purchases)
    margin = Decimal("0.25")
    result = f.ltv(
        net_sales=net,
        purchases=purchases,
        buyers=buyers,
        lost=lost,
        active_at_start=lost + kept,
        margin=margin,
        max_years=10,
    )
    years = f.retention_years(lost=lost, active_at_start=lost + kept, max_years=10)
    # AOV x frequency = net / buyers: the identity the formula rests on.
    assert result.value == f.quantize(Fraction(net, buyers) * Fraction(margin) * years)
