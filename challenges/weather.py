"""Weather observations per store and day, for the challenge conditions `weather.condition` and
`weather.precipitation_mm` (the worker snapshots the observation onto each event it evaluates,
see challenges/processing.py).

Two ways in, both upserts on (store, date), so running either again changes nothing:
- a CSV import (`manage.py import_weather FILE.csv`): every row is checked first and one bad
  row refuses the whole file; a row for a store and day already known replaces it;
- a provider (`manage.py fetch_weather`, and the early-morning job `fetch_weather_task`): the
  class named by the setting LOYALTY_WEATHER_PROVIDER (empty: off, the default) is asked for
  every active store with coordinates. Everything is fetched before anything is written, so a
  network error leaves the day as it was. A fetch replaces only its own earlier observations:
  a row imported by hand or typed in the admin (another source) is kept.
"""

import csv
import datetime as dt
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Protocol, TextIO

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.utils import timezone
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _

from loyalty.errors import LoyaltyError
from members.models import Store

from .models import WeatherObservation

log = logging.getLogger(__name__)

COLUMNS = ("store_code", "date", "condition", "precipitation_mm")
CONDITIONS = tuple(WeatherObservation.Condition.values)
# The column is DECIMAL(6, 1): one decimal place, at most 99999.9 mm.
PRECISION = Decimal("0.1")
MAX_PRECIPITATION = Decimal("99999.9")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_PLAIN_NUMBER = re.compile(r"-?(\d+(\.\d*)?|\.\d+)")  # 12, 12.5, .5: no exponent (1e3)


class WeatherImportError(LoyaltyError):
    """A file or rows refused whole; `messages` names every bad line and column."""

    code = "invalid_weather"
    field = "weather"


class WeatherProviderError(LoyaltyError):
    """The provider could not answer (network, HTTP status, unexpected response)."""

    code = "weather_provider_error"
    status = 502
    field = "weather"


class WeatherNotConfigured(LoyaltyError):
    code = "weather_not_configured"
    status = 409
    field = "weather"

    def default_message(self):
        return _(
            "No weather provider is configured: set LOYALTY_WEATHER_PROVIDER "
            "(e.g. challenges.open_meteo.OpenMeteoProvider)."
        )


@dataclass(frozen=True)
class Observation:
    """What a provider reports for one store and day."""

    condition: str  # one of CONDITIONS
    precipitation_mm: Decimal


class WeatherProvider(Protocol):
    """A source of daily weather. `source` is recorded on the rows it produces (at most 40
    characters); `fetch` returns None when it has no data for that store and day, and raises
    WeatherProviderError when it cannot answer."""

    source: str

    def fetch(self, *, store: Store, day: dt.date) -> Observation | None: ...


@dataclass(frozen=True)
class ImportResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0


@dataclass(frozen=True)
class FetchResult:
    day: dt.date
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    kept: list[str] = field(default_factory=list)  # stores whose row came from another source
    no_data: list[str] = field(default_factory=list)  # stores the provider had nothing for
    skipped: list[str] = field(default_factory=list)  # active stores without coordinates


# --- CSV import -------------------------------------------------------------------------------
def weather_csv_rows(stream: TextIO) -> list[dict[str, str]]:
    """The data rows of a CSV file with the header `store_code,date,condition,precipitation_mm`
    (columns in any order), one dict per line after the header, so that row i is line i + 2:
    a blank line inside the file stays (and is reported as missing values); blank lines at the
    end are dropped. A row with more values than the header has them under the key None."""
    reader = csv.reader(stream)
    header = next(reader, None)
    expected = ",".join(COLUMNS)
    if header is None:
        raise WeatherImportError(
            _("line 1: the file is empty; the header must be %(header)s") % {"header": expected}
        )
    names = [name.strip().lower() for name in header]
    if names and names[0].startswith("\ufeff"):  # a byte-order mark read as text
        names[0] = names[0][1:]
    if sorted(names) != sorted(COLUMNS):
        raise WeatherImportError(
            _("line 1: the header must be %(header)s, got '%(got)s'")
            % {"header": expected, "got": ",".join(header)}
        )
    rows: list[dict[str, str]] = []
    blank_tail = 0
    for values in reader:
        line = len(rows) + 2
        if reader.line_num != line:
            raise WeatherImportError(
                _("line %(line)d: a quoted value runs over several lines") % {"line": line}
            )
        row: dict = dict(zip(names, values, strict=False))
        if len(values) > len(names):
            row[None] = values[len(names) :]
        rows.append(row)
        blank_tail = blank_tail + 1 if not any(v.strip() for v in values) else 0
    return rows[: len(rows) - blank_tail]


def _clean_row(
    row: Mapping, line: int, stores: dict[str, int], errors: list[str]
) -> tuple[int | None, dt.date | None, tuple[str, Decimal] | None] | None:
    """(store id, day, (condition, precipitation)) of a row, recording what is wrong in
    `errors`: the store and day as far as they are right (None otherwise), the values None
    when anything is wrong; None for a row with more values than columns."""
    extra = [key for key in row if key not in COLUMNS]
    if extra:
        errors.append(
            _("line %(line)d: more values than the columns %(columns)s")
            % {"line": line, "columns": ",".join(COLUMNS)}
        )
        return None
    values = {name: "" if row.get(name) is None else str(row[name]).strip() for name in COLUMNS}
    before = len(errors)

    def bad(column: str, message: str) -> None:
        errors.append(f"line {line}, {column}: {message}")

    for name in COLUMNS:
        if not values[name]:
            bad(name, _("required"))

    store_id = None
    if values["store_code"]:
        store_id = stores.get(values["store_code"])
        if store_id is None:
            bad("store_code", _("unknown store '%(code)s'") % {"code": values["store_code"]})

    day = None
    if values["date"]:
        try:
            if not _ISO_DATE.fullmatch(values["date"]):
                raise ValueError
            day = dt.date.fromisoformat(values["date"])
        except ValueError:
            bad("date", _("'%(value)s' is not a date (YYYY-MM-DD)") % {"value": values["date"]})

    condition = values["condition"].lower()
    if values["condition"] and condition not in CONDITIONS:
        bad(
            "condition",
            _("'%(value)s' is not one of %(choices)s")
            % {"value": values["condition"], "choices": ", ".join(CONDITIONS)},
        )

    precipitation = None
    if values["precipitation_mm"]:
        written = isinstance(row.get("precipitation_mm"), str)
        precipitation = _precipitation(values["precipitation_mm"], bad, text=written)

    if len(errors) > before:
        return store_id, day, None
    assert store_id is not None and day is not None and precipitation is not None
    return store_id, day, (condition, precipitation)


def _precipitation(raw: str, bad, *, text: bool) -> Decimal | None:
    """`text`: as written in a file, where a number is plain (12.5): 1e3 is a typo's look."""
    column = "precipitation_mm"
    try:
        value = Decimal(raw)
    except InvalidOperation:
        value = None
    if value is None or not value.is_finite() or (text and not _PLAIN_NUMBER.fullmatch(raw)):
        bad(column, _("'%(value)s' is not a number") % {"value": raw})
        return None
    if value < 0:
        bad(column, _("must be 0 or more, got '%(value)s'") % {"value": raw})
        return None
    value = value.quantize(PRECISION, rounding=ROUND_HALF_UP).copy_abs()  # -0 is 0
    if value > MAX_PRECIPITATION:
        bad(
            column,
            _("must be at most %(max)s, got '%(value)s'")
            % {"max": MAX_PRECIPITATION, "value": raw},
        )
        return None
    return value


def weather_observations_import(*, rows: Iterable[Mapping], source: str) -> ImportResult:
    """Upsert observations from rows with the keys store_code, date (YYYY-MM-DD), condition
    (clear, cloudy, rain, snow; any case) and precipitation_mm (0 or more, rounded to 0.1).
    Rows are numbered as lines of a CSV file with a header: the first row is line 2.

    Every row is checked before anything is written; any bad row raises WeatherImportError
    listing each problem as "line N, column: reason", and nothing changes. A row equal to the
    stored one (condition, precipitation and source) is unchanged; a different value for a
    store and day already stored replaces it (the newest import wins)."""
    source = source[:40]
    rows = list(rows)
    codes = {str(row.get("store_code") or "").strip() for row in rows}
    stores = dict(Store.objects.filter(code__in=codes).values_list("code", "id"))
    errors: list[str] = []
    wanted: dict[tuple[int, dt.date], tuple[str, Decimal]] = {}
    first_line: dict[tuple[int, dt.date], int] = {}
    for line, row in enumerate(rows, start=2):
        cleaned = _clean_row(row, line, stores, errors)
        if cleaned is None:
            continue
        store_id, day, value = cleaned
        if store_id is None or day is None:
            continue
        key = (store_id, day)
        # Checked for rows with other errors too: every problem of the file in one answer.
        if key in first_line:
            errors.append(
                _("line %(line)d, date: store %(store)s on %(day)s is already on line %(first)d")
                % {
                    "line": line,
                    "store": str(row.get("store_code")).strip(),
                    "day": day.isoformat(),
                    "first": first_line[key],
                }
            )
            continue
        first_line[key] = line
        if value is not None:
            wanted[key] = value
    if errors:
        raise WeatherImportError(messages=errors)
    created, updated, unchanged, _kept = _upsert(wanted, source=source, keep_other_sources=False)
    return ImportResult(created=created, updated=updated, unchanged=unchanged)


def _upsert(
    wanted: Mapping[tuple[int, dt.date], tuple[str, Decimal]],
    *,
    source: str,
    keep_other_sources: bool,
) -> tuple[int, int, int, list[int]]:
    """Write (store id, day) -> (condition, precipitation) in one transaction. Returns counts
    created, updated, unchanged and the store ids kept because their row has another source
    (only when `keep_other_sources`)."""
    if not wanted:
        return 0, 0, 0, []
    with transaction.atomic():
        existing = {
            (obs.store_id, obs.date): obs
            for obs in WeatherObservation.objects.select_for_update().filter(
                store_id__in={s for s, _d in wanted}, date__in={d for _s, d in wanted}
            )
        }
        new, changed, unchanged, kept = [], [], 0, []
        for (store_id, day), (condition, precipitation) in wanted.items():
            obs = existing.get((store_id, day))
            if obs is None:
                new.append(
                    WeatherObservation(
                        store_id=store_id,
                        date=day,
                        condition=condition,
                        precipitation_mm=precipitation,
                        source=source,
                    )
                )
            elif keep_other_sources and obs.source != source:
                kept.append(store_id)
            elif (obs.condition, obs.precipitation_mm, obs.source) == (
                condition,
                precipitation,
                source,
            ):
                unchanged += 1
            else:
                obs.condition, obs.precipitation_mm, obs.source = condition, precipitation, source
                changed.append(obs)
        # A row inserted by a concurrent run since the read above is overwritten rather than
        # failing the whole write on the unique (store, date) constraint: the last writer wins.
        WeatherObservation.objects.bulk_create(
            new,
            update_conflicts=True,
            unique_fields=["store", "date"],
            update_fields=["condition", "precipitation_mm", "source"],
        )
        WeatherObservation.objects.bulk_update(changed, ["condition", "precipitation_mm", "source"])
    return len(new), len(changed), unchanged, kept


# --- Providers --------------------------------------------------------------------------------
def weather_provider() -> WeatherProvider | None:
    """An instance of the class named by LOYALTY_WEATHER_PROVIDER, or None when it is empty."""
    path = settings.LOYALTY_WEATHER_PROVIDER.strip()
    if not path:
        return None
    try:
        provider_class = import_string(path)
    except ImportError as exc:
        raise ImproperlyConfigured(
            f"LOYALTY_WEATHER_PROVIDER: cannot import {path!r} ({exc})"
        ) from exc
    return provider_class()


def weather_fetch(*, day: dt.date, provider: WeatherProvider | None = None) -> FetchResult:
    """Ask the provider (default: the configured one) for `day` at every active store with
    coordinates, then write all answers in one transaction. Stores without latitude or
    longitude are skipped (and logged). A provider error is logged and raised before anything
    is written. Raises WeatherNotConfigured when there is no provider."""
    provider = provider or weather_provider()
    if provider is None:
        raise WeatherNotConfigured()
    source = provider.source[:40]
    stores = list(Store.objects.filter(is_active=True).order_by("code"))
    skipped = [s.code for s in stores if s.latitude is None or s.longitude is None]
    if skipped:
        log.info("weather %s: no coordinates, skipped: %s", day, ", ".join(skipped))
    wanted: dict[tuple[int, dt.date], tuple[str, Decimal]] = {}
    no_data = []
    for store in stores:
        if store.code in skipped:
            continue
        try:
            observation = provider.fetch(store=store, day=day)
            if observation is not None:
                wanted[(store.pk, day)] = _checked(observation, source=source)
        except WeatherProviderError as exc:
            log.error("weather %s: %s; nothing written for that day", day, exc.message)
            raise
        if observation is None:
            no_data.append(store.code)
    created, updated, unchanged, kept_ids = _upsert(wanted, source=source, keep_other_sources=True)
    codes = {s.pk: s.code for s in stores}
    result = FetchResult(
        day=day,
        created=created,
        updated=updated,
        unchanged=unchanged,
        kept=sorted(codes[pk] for pk in kept_ids),
        no_data=no_data,
        skipped=skipped,
    )
    log.info("weather %s from %s: %s", day, source, fetch_summary(result))
    return result


def _checked(observation: Observation, *, source: str) -> tuple[str, Decimal]:
    if observation.condition not in CONDITIONS:
        raise WeatherProviderError(
            _("%(source)s reported the condition '%(value)s', not one of %(choices)s")
            % {"source": source, "value": observation.condition, "choices": ", ".join(CONDITIONS)}
        )
    precipitation = Decimal(observation.precipitation_mm)
    if precipitation.is_finite():
        precipitation = precipitation.quantize(PRECISION, rounding=ROUND_HALF_UP)
        precipitation = precipitation.copy_abs() if precipitation == 0 else precipitation
    if not precipitation.is_finite() or not 0 <= precipitation <= MAX_PRECIPITATION:
        raise WeatherProviderError(
            _("%(source)s reported a precipitation of %(value)s mm")
            % {"source": source, "value": observation.precipitation_mm}
        )
    return observation.condition, precipitation


def weather_fetch_recent(
    *, provider: WeatherProvider | None = None, today: dt.date | None = None
) -> list[FetchResult]:
    """Yesterday (its final figures) and today (before the day's events are evaluated), in
    the programme time zone. Does nothing when no provider is configured."""
    provider = provider or weather_provider()
    if provider is None:
        log.info("weather: LOYALTY_WEATHER_PROVIDER is not set; nothing fetched")
        return []
    today = today or timezone.localdate()
    return [
        weather_fetch(day=day, provider=provider) for day in (today - dt.timedelta(days=1), today)
    ]


def fetch_summary(result: FetchResult) -> str:
    parts = [f"{result.created} created, {result.updated} updated, {result.unchanged} unchanged"]
    if result.kept:
        parts.append("kept (another source): " + ", ".join(result.kept))
    if result.no_data:
        parts.append("no data: " + ", ".join(result.no_data))
    if result.skipped:
        parts.append("skipped (no coordinates): " + ", ".join(result.skipped))
    return "; ".join(parts)
