"""KPI targets: what makes one valid, and the one way to save one (the admin calls it).

A target names a registered KPI, a segment as the snapshots name them ("all", "tier:gold",
"store:TYO01", ...), a period kind and the first day of one period of that kind; its kind says
whether `value` is the value to reach or the change against the previous period.
"""

import datetime as dt
import re

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from .kpis.segments import DIMENSIONS
from .models import KpiTarget
from .models.kpis import Period
from .periods import START_RULES, period_floor
from .selectors import kpi_registry

# Dimensions a snapshot's segment may name: the member dimensions, the purchase channel, the
# challenge rows of the effectiveness table, and the survey KPIs' answer store and question.
SEGMENT_DIMENSIONS = (*DIMENSIONS, "channel", "challenge", "answer_store", "question")
_SEGMENT = re.compile(r"^(?P<dimension>[a-z_]+):(?P<value>[^\s\x00-\x1f]+)$")
SEGMENT_MAX = KpiTarget._meta.get_field("segment").max_length


def segment_error(segment: str) -> str | None:
    """Why `segment` is not one the snapshots could have, or None."""
    if segment == "all":
        return None
    match = _SEGMENT.match(segment)
    if len(segment) > SEGMENT_MAX or not match:
        return _(
            'Use "all" or "<dimension>:<value>", e.g. "tier:gold" (at most %(max)d characters).'
        ) % {"max": SEGMENT_MAX}
    if match["dimension"] not in SEGMENT_DIMENSIONS:
        return _("Unknown dimension %(dimension)s: use one of %(dimensions)s.") % {
            "dimension": match["dimension"],
            "dimensions": ", ".join(SEGMENT_DIMENSIONS),
        }
    return None


def period_start_error(period: str, day: dt.date) -> str | None:
    """Why `day` is not the first day of a period of kind `period`, or None."""
    if period not in Period.values:
        return None  # the period field reports it
    start = period_floor(period, day)
    if start == day:
        return None
    return _(
        "A %(period)s starts on %(rule)s: use %(start)s for the %(period)s containing %(day)s."
    ) % {
        "period": Period(period).label.lower(),
        "rule": START_RULES[period],
        "start": start.isoformat(),
        "day": day.isoformat(),
    }


def kpi_target_errors(
    *, kpi: str, segment: str, period: str, period_start: dt.date | None
) -> dict[str, str]:
    """Each invalid field of a target and why (empty: valid)."""
    errors = {}
    if kpi not in kpi_registry():
        errors["kpi"] = _("Unknown KPI %(kpi)s: choose a registered KPI.") % {"kpi": kpi}
    problem = segment_error(segment)
    if problem:
        errors["segment"] = problem
    if period not in Period.values:
        errors["period"] = _("Choose day, week, month or quarter.")
    elif period_start is not None:
        problem = period_start_error(period, period_start)
        if problem:
            errors["period_start"] = problem
    return errors


@transaction.atomic
def kpi_target_save(*, target: KpiTarget) -> KpiTarget:
    """Validate and save a new or changed target; a ValidationError names each bad field and
    nothing is saved."""
    errors = kpi_target_errors(
        kpi=target.kpi,
        segment=target.segment,
        period=target.period,
        period_start=target.period_start,
    )
    if errors:
        raise ValidationError(errors)
    target.full_clean()
    target.save()
    return target
