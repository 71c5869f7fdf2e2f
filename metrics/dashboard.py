"""The KPI dashboard's content: its filters, what it shows for them, and every table on the page
as rows of plain values (the page formats them; the CSV export writes them as they are).

Everything is read from the snapshots through metrics.selectors; the admin view
(metrics/admin_dashboard.py) only parses the request and renders.
"""

import csv
import datetime as dt
import io
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django import forms
from django.core.validators import MaxValueValidator, MinValueValidator
from django.utils import formats, timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from members.models import Staff, Store

from .models.kpis import Period
from .periods import period_count, period_floor, period_label, period_shift
from .selectors import (
    ALL,
    HEADLINE_KPIS,
    STORE_PREFIX,
    ChallengeRow,
    CohortMatrix,
    Headline,
    KpiMeta,
    SegmentValue,
    Series,
    challenge_effectiveness,
    cohort_retention_matrix,
    kpi_by_dimension,
    kpi_headlines,
    kpi_series,
    nps_split,
    segments_available,
)
from .targets import segment_error

# How many periods the dashboard shows when no range is given, ending with the last finished one.
DEFAULT_SPAN = {"day": 31, "week": 13, "month": 12, "quarter": 8}
MAX_PERIODS = 400
BAR_DIMENSIONS = (
    ("segment", _("New / existing / dormant")),
    ("tier", _("Tier")),
    ("store", _("Store")),
    ("channel", _("Channel")),
    ("cohort", _("Join month")),
    ("age", _("Age band")),
    ("gender", _("Gender")),
)
TABLES = ("headline", "trends", "segments", "cohorts", "challenges")
# Decimal places shown per unit; None: as few as the value needs, at most two.
PLACES = {"percent": 1, "yen": 0, "count": 0, "points": 0, "score": 1, "years": 1, "per_year": 2}


def last_finished_period(period: str, today: dt.date) -> dt.date:
    """The start of the last period of kind `period` that is over on `today` (the one before
    the period containing it): yesterday, last week, last month, last quarter."""
    return period_shift(period, period_floor(period, today), -1)


def dashboard_store_for(user) -> str | None:
    """The store whose numbers alone `user` may see: their staff profile's, unless they may
    see every store (metrics.view_all_stores; superusers may). None: every store."""
    if user.has_perm("metrics.view_all_stores"):
        return None
    profile = Staff.objects.filter(user=user).select_related("store").first()
    return profile.store.code if profile else None


# --- Filters ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Filters:
    period: str
    first: dt.date  # first period start shown
    last: dt.date  # last period start shown: the tiles' period
    store: str | None
    segment: str | None
    dimension: str

    @property
    def effective_segment(self) -> str:
        if self.store:
            return f"{STORE_PREFIX}{self.store}"
        return self.segment or ALL

    def query(self) -> dict[str, str]:
        """As query parameters (the CSV links repeat them)."""
        return {
            "period": self.period,
            "date_from": self.first.isoformat(),
            "date_to": self.last.isoformat(),
            "store": self.store or "",
            "segment": self.segment or "",
            "dimension": self.dimension,
        }


# The survey KPIs' own slices (metrics.kpis.surveys): named so that a marketer sees they slice
# survey answers, not members.
SURVEY_DIMENSIONS = (
    ("answer_store", _("Store answered at (surveys)")),
    ("question", _("Question (surveys)")),
)
SEGMENT_VALUES = {
    "new": _("New"),
    "existing": _("Existing"),
    "dormant": _("Dormant"),
    "unknown": _("unknown"),
}


def value_name(segment: str) -> str:
    """ "gender:female" -> "Female": the segment's value, by its name where it is a code with
    one (segment stages, genders, channels), in the user's language; otherwise as stored."""
    from loyalty.models.purchases import Channel
    from members.models import Member

    dimension, value = segment.split(":", 1)
    values = {
        **SEGMENT_VALUES,
        **(dict(Member.Gender.choices) if dimension == "gender" else {}),
        **(dict(Channel.choices) if dimension == "channel" else {}),
    }
    return str(values.get(value, value))


def _segment_choice(segment: str) -> tuple[str, str]:
    """("gender:female", "Gender: Female"): the dimension's name and the value's (value_name)."""
    dimension = segment.split(":", 1)[0]
    names = dict(BAR_DIMENSIONS + SURVEY_DIMENSIONS)
    return segment, f"{names.get(dimension, dimension)}: {value_name(segment)}"


EARLIEST_DATE, LATEST_DATE = dt.date(2000, 1, 1), dt.date(9998, 12, 31)


class DashboardFilterForm(forms.Form):
    period = forms.ChoiceField(label=_("Period"), choices=Period.choices, required=False)
    # Bounded: the page shifts a period either side of the range (year 10000 was a 500).
    date_from = forms.DateField(
        label=_("From"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        validators=[MinValueValidator(EARLIEST_DATE), MaxValueValidator(LATEST_DATE)],
    )
    date_to = forms.DateField(
        label=_("To"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        validators=[MinValueValidator(EARLIEST_DATE), MaxValueValidator(LATEST_DATE)],
    )
    store = forms.ChoiceField(label=_("Store"), required=False)
    segment = forms.CharField(label=_("Segment"), required=False, widget=forms.Select)
    dimension = forms.ChoiceField(label=_("Bar charts by"), choices=BAR_DIMENSIONS, required=False)

    def __init__(self, data, *, restricted_store: str | None = None):
        super().__init__(data)
        self.restricted_store = restricted_store
        if restricted_store:
            self.fields["store"].choices = [(restricted_store, restricted_store)]
            self.fields["segment"].widget.choices = [("", gettext("Store's members"))]
        else:
            self.fields["store"].choices = [("", gettext("All stores"))] + [
                (s.code, f"{s.code} {s.name}") for s in Store.objects.order_by("code")
            ]

    def clean_period(self) -> str:
        return self.cleaned_data["period"] or "month"

    def clean_store(self) -> str | None:
        return self.restricted_store or self.cleaned_data["store"] or None

    def clean_segment(self) -> str | None:
        segment = self.cleaned_data["segment"].strip()
        if not segment or segment == ALL:
            return None
        problem = segment_error(segment)
        if problem:
            raise forms.ValidationError(problem)
        if segment.startswith(STORE_PREFIX):
            raise forms.ValidationError(gettext("Choose a store with the store filter."))
        return segment

    def clean_dimension(self) -> str:
        return self.cleaned_data["dimension"] or "segment"

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        if data["store"] and data["segment"]:
            self.add_error(
                "segment",
                gettext(
                    "Choose a store or a segment, not both: the snapshots are sliced by one "
                    "dimension at a time."
                ),
            )
            return data
        period = data["period"]
        to = data["date_to"]
        if to is None:
            # The tiles' period: the last finished one, not the current one (its numbers are
            # partial); or the period of a `From` the user set after it.
            to = last_finished_period(period, timezone.localdate())
            if data["date_from"] is not None:
                to = max(to, period_floor(period, data["date_from"]))
        first = data["date_from"] or period_shift(
            period, period_floor(period, to), 1 - DEFAULT_SPAN[period]
        )
        if first > to:
            self.add_error("date_to", gettext("The end is before the start."))
        elif period_count(period, first, to) > MAX_PERIODS:
            self.add_error(
                "date_from",
                gettext("Choose at most %(max)d periods; this range has %(count)d.")
                % {"max": MAX_PERIODS, "count": period_count(period, first, to)},
            )
        data["first"], data["last"] = period_floor(period, first), period_floor(period, to)
        return data

    def filters(self) -> Filters:
        data = self.cleaned_data
        return Filters(
            period=data["period"],
            first=data["first"],
            last=data["last"],
            store=data["store"],
            segment=data["segment"],
            dimension=data["dimension"],
        )

    def set_segment_choices(self, segments: list[str]) -> None:
        if self.restricted_store:
            return
        current = self.cleaned_data.get("segment") if hasattr(self, "cleaned_data") else None
        if current and current not in segments:
            segments = sorted([*segments, current])
        self.fields["segment"].widget.choices = [("", gettext("All members"))] + [
            _segment_choice(s) for s in segments
        ]


# --- Formatting ------------------------------------------------------------------------------


def _grouped(value, places: int | None) -> str:
    """Rounded half up (Django's number_format truncates) and grouped: 31.46 -> 31.5."""
    value = Decimal(value)
    if places is None:
        places = 0 if value == value.to_integral_value() else 2
    value = value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    return formats.number_format(value, places, use_l10n=True, force_grouping=True)


def format_value(value: Decimal | None, unit: str | None) -> str:
    """For people: grouped thousands, the unit's decimals: 12,480 / 5.0% / ¥8,210 / 31.5."""
    if value is None:
        return "–"
    number = _grouped(value, PLACES.get(unit or ""))
    if unit == "percent":
        return f"{number}%"
    if unit == "yen":
        return f"¥{number}"
    if unit == "points":
        return gettext("%(number)s pt") % {"number": number}
    return number


def format_change(change: Decimal | None, unit: str | None) -> str:
    """A change against the previous period: +1.5 pt (percentage points), −120, +¥300."""
    if change is None:
        return "–"
    sign = "+" if change > 0 else ("−" if change < 0 else "±")
    if unit == "percent":
        number = _grouped(abs(change), PLACES["percent"])
        return gettext("%(sign)s%(number)s pt") % {"sign": sign, "number": number}
    return f"{sign}{format_value(abs(change), unit)}"


def format_progress(progress: Decimal | None) -> str:
    """A target's progress: 60.0%, 112.5%, −40.0% (moved away from the goal)."""
    if progress is None:
        return "–"
    sign = "−" if progress < 0 else ""
    return f"{sign}{_grouped(abs(progress), 1)}%"


def inert(text: str) -> str:
    """Text from the data (a segment value, a challenge code) that a spreadsheet would take
    for a formula gets a leading apostrophe: "=1+1" -> "'=1+1"."""
    return f"'{text}" if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def plain(value: Any) -> str:
    """For the CSV: numbers as written by a machine (12.5, 1200), dates ISO, None empty."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return gettext("yes") if value else gettext("no")
    if isinstance(value, Decimal):
        text = format(value.normalize(), "f")
        return "0" if text in ("-0", "0") else text
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


# --- The dashboard ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Table:
    name: str
    title: str
    columns: list[str]
    rows: list[list[Any]]
    units: list[str | None] = field(default_factory=list)  # per column, for the page

    def display_rows(self) -> list[list[str]]:
        units = self.units or [None] * len(self.columns)
        return [
            [
                format_value(cell, unit) if isinstance(cell, Decimal) or unit else plain(cell)
                for cell, unit in zip(row, units, strict=True)
            ]
            for row in self.rows
        ]

    def csv(self) -> str:
        """UTF-8 text with a byte-order mark, so Excel opens Japanese text correctly."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(self.columns)
        writer.writerows([[plain(cell) for cell in row] for row in self.rows])
        return "\ufeff" + out.getvalue()


@dataclass(frozen=True)
class Dashboard:
    filters: Filters
    restricted_store: str | None
    headlines: list[Headline]
    series: list[Series]
    by_dimension: dict[str, list[SegmentValue]]
    cohorts: CohortMatrix | None  # None: not shown (store-bound users)
    challenge_columns: list[KpiMeta]
    challenge_rows: list[ChallengeRow] | None  # None: not shown (store-bound users)

    @property
    def segment(self) -> str:
        return self.filters.effective_segment

    @property
    def period_labels(self) -> list[str]:
        starts = self.series[0].starts if self.series else []
        return [period_label(self.filters.period, s) for s in starts]

    def tables(self) -> dict[str, Table]:
        tables = {"headline": self._headline_table(), "trends": self._trends_table()}
        if self.restricted_store is None:  # the bar charts compare the programme's segments
            tables["segments"] = self._segments_table()
        if self.cohorts is not None:
            tables["cohorts"] = self._cohorts_table()
        if self.challenge_rows is not None:
            tables["challenges"] = self._challenges_table()
        return tables

    def _headline_table(self) -> Table:
        columns = [
            gettext("KPI"),
            gettext("Name"),
            gettext("Period"),
            gettext("Value"),
            gettext("Previous period"),
            gettext("Change"),
            gettext("Sample size"),
            gettext("Target"),
            gettext("Goal"),
            gettext("Progress (%)"),
            gettext("Met"),
            gettext("Promoters (%)"),
            gettext("Passives (%)"),
            gettext("Detractors (%)"),
        ]
        rows = []
        for h in self.headlines:
            target = h.target
            target_text = None
            if target is not None:
                target_text = (
                    plain(target.target)
                    if target.kind == "absolute"
                    else f"{'+' if target.target >= 0 else ''}{plain(target.target)}"
                )
            split = nps_split(h.details) if h.meta.code == "nps" else None
            rows.append(
                [
                    h.meta.code,
                    gettext(h.meta.label),
                    period_label(h.period, h.period_start),
                    h.value,
                    h.previous,
                    h.change,
                    h.n,
                    target_text,
                    target.goal if target else None,
                    target.progress if target else None,
                    target.met if target else None,
                    *(split[k] if split else None for k in ("promoters", "passives", "detractors")),
                ]
            )
        units = [None] * len(columns)
        return Table("headline", gettext("Headline"), columns, rows, units)

    def _trends_table(self) -> Table:
        columns = [gettext("Period")] + [gettext(s.meta.label) for s in self.series]
        rows = [
            [label] + [s.values[i] for s in self.series]
            for i, label in enumerate(self.period_labels)
        ]
        units = [None] + [s.meta.unit for s in self.series]
        return Table("trends", gettext("Trends"), columns, rows, units)

    def _segments_table(self) -> Table:
        codes = list(self.by_dimension)
        segments: list[str] = []
        for values in self.by_dimension.values():
            segments += [v.value_label for v in values if v.value_label not in segments]
        segments.sort()
        lookup = {
            (code, v.value_label): v.value
            for code, values in self.by_dimension.items()
            for v in values
        }
        metas = {h.meta.code: h.meta for h in self.headlines}
        columns = [gettext("Segment")] + [gettext(metas[c].label) for c in codes]
        names = {
            v.value_label: value_name(v.segment)
            for values in self.by_dimension.values()
            for v in values
        }
        rows = [
            [inert(names[segment])] + [lookup.get((c, segment)) for c in codes]
            for segment in segments
        ]
        units = [None] + [metas[c].unit for c in codes]
        return Table("segments", gettext("By segment"), columns, rows, units)

    def _cohorts_table(self) -> Table:
        assert self.cohorts is not None
        columns = [gettext("Join month"), gettext("Members")] + [
            gettext("Month %(k)d") % {"k": k} for k in self.cohorts.months
        ]
        width = len(self.cohorts.months)
        rows = [
            [row.cohort, row.size] + row.values + [None] * (width - len(row.values))
            for row in self.cohorts.rows
        ]
        units = [None, "count"] + ["percent"] * width
        return Table("cohorts", gettext("Cohort retention"), columns, rows, units)

    def _challenges_table(self) -> Table:
        assert self.challenge_rows is not None
        columns = [gettext("Challenge")] + [gettext(m.label) for m in self.challenge_columns]
        rows = [
            [inert(row.code)] + [row.values.get(m.code) for m in self.challenge_columns]
            for row in self.challenge_rows
        ]
        units = [None] + [m.unit for m in self.challenge_columns]
        return Table("challenges", gettext("Challenge effectiveness"), columns, rows, units)

    def chart_data(self) -> dict[str, Any]:
        """What dashboard.js draws: plain JSON numbers."""

        def number(value: Decimal | None) -> float | None:
            return float(value) if value is not None else None

        segments_meta = {h.meta.code: h.meta for h in self.headlines}
        nps = next((h for h in self.headlines if h.meta.code == "nps"), None)
        split = nps_split(nps.details) if nps else None
        return {
            "trends": [
                {
                    "code": s.meta.code,
                    "label": gettext(s.meta.label),
                    "unit": s.meta.unit,
                    "labels": self.period_labels,
                    "values": [number(v) for v in s.values],
                    "goals": [number(v) for v in s.goals],
                }
                for s in self.series
            ],
            "segments": [
                {
                    "code": code,
                    "label": gettext(segments_meta[code].label),
                    "unit": segments_meta[code].unit,
                    "labels": [value_name(v.segment) for v in values],
                    "values": [number(v.value) for v in values],
                }
                for code, values in self.by_dimension.items()
            ],
            "nps_split": {k: float(v) for k, v in split.items()} if split else None,
            "texts": {
                "target": gettext("Target"),
                "promoters": gettext("Promoters"),
                "passives": gettext("Passives"),
                "detractors": gettext("Detractors"),
            },
        }


def dashboard_build(*, filters: Filters, restricted_store: str | None) -> Dashboard:
    """Everything the page shows for `filters`: a handful of queries on the snapshots."""
    segment = filters.effective_segment
    headlines = kpi_headlines(
        kpis=HEADLINE_KPIS, segment=segment, period=filters.period, period_start=filters.last
    )
    series = kpi_series(
        segment=segment, period=filters.period, first=filters.first, last=filters.last
    )
    programme_wide = restricted_store is None
    by_dimension = (
        kpi_by_dimension(
            kpis=HEADLINE_KPIS,
            dimension=filters.dimension,
            period=filters.period,
            period_start=filters.last,
        )
        if programme_wide
        else {}
    )
    cohorts = (
        cohort_retention_matrix(first=filters.first, last=filters.last) if programme_wide else None
    )
    columns, rows = (
        challenge_effectiveness(period=filters.period, period_start=filters.last)
        if programme_wide
        else ([], None)
    )
    return Dashboard(
        filters=filters,
        restricted_store=restricted_store,
        headlines=headlines,
        series=series,
        by_dimension=by_dimension,
        cohorts=cohorts,
        challenge_columns=columns,
        challenge_rows=rows,
    )


def dashboard_segments(*, filters: Filters) -> list[str]:
    return segments_available(period=filters.period, first=filters.first, last=filters.last)
