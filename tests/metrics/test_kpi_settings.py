"""The KPI settings: defaults, and out-of-range values refused at start naming the variable."""

from decimal import Decimal

import pytest
from django.conf import settings

from tests.project.test_settings import refused


def test_defaults():
    assert settings.LOYALTY_CHURN_LAPSE_DAYS == 180
    assert settings.LOYALTY_REPEAT_MONTHS == 12
    assert settings.LOYALTY_MARGIN == Decimal("0.30")
    assert settings.LOYALTY_LTV_MAX_YEARS == 10


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("LOYALTY_MARGIN", "lots", "LOYALTY_MARGIN must be a decimal number, got 'lots'"),
        ("LOYALTY_MARGIN", "1.5", "LOYALTY_MARGIN must be between 0 and 1, got '1.5'"),
        ("LOYALTY_MARGIN", "NaN", "LOYALTY_MARGIN must be between 0 and 1, got 'NaN'"),
        ("LOYALTY_CHURN_LAPSE_DAYS", "0", "LOYALTY_CHURN_LAPSE_DAYS must be from 1 to 3650"),
        ("LOYALTY_CHURN_LAPSE_DAYS", "half", "LOYALTY_CHURN_LAPSE_DAYS must be an integer"),
        ("LOYALTY_REPEAT_MONTHS", "121", "LOYALTY_REPEAT_MONTHS must be from 1 to 120"),
        ("LOYALTY_LTV_MAX_YEARS", "0", "LOYALTY_LTV_MAX_YEARS must be from 1 to 100"),
    ],
)
def test_bad_values_refuse(tmp_path, name, value, message):
    assert message in refused(tmp_path, **{name: value})
