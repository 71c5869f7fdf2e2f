"""A weather provider for Open-Meteo (https://open-meteo.com): no key for the free,
non-commercial API. Switch it on with
LOYALTY_WEATHER_PROVIDER=challenges.open_meteo.OpenMeteoProvider.

One request per store and day to LOYALTY_OPEN_METEO_URL (default the forecast API, which
answers for today and roughly the last three months; the archive API
https://archive-api.open-meteo.com/v1/archive takes the same parameters for older days):

    ?latitude=..&longitude=..&daily=weather_code,precipitation_sum&timezone=<TIME_ZONE>
    &start_date=<day>&end_date=<day>&precipitation_unit=mm[&apikey=<LOYALTY_OPEN_METEO_API_KEY>]

The daily values are for the day in the programme time zone (TIME_ZONE): `weather_code` is
the most severe WMO weather code of the day, `precipitation_sum` the day's total in mm.
"""

import datetime as dt
import json
import logging
import urllib.error
import urllib.parse
import urllib.request
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext as _

from members.models import Store

from .weather import Observation, WeatherProviderError

log = logging.getLogger(__name__)

# WMO weather interpretation codes (WW) as Open-Meteo documents them, to our four conditions.
# 2 (partly cloudy) counts as clear, 3 (overcast) and fog as cloudy: the line the Japan
# Meteorological Agency draws between 晴れ (up to 8 tenths of cloud) and 曇り. Every kind of
# liquid precipitation (drizzle, freezing drizzle and rain, showers, thunderstorms, with or
# without hail) is rain; snow fall, snow grains and snow showers are snow.
WMO_CONDITIONS: dict[int, str] = {
    0: "clear",  # clear sky
    1: "clear",  # mainly clear
    2: "clear",  # partly cloudy
    3: "cloudy",  # overcast
    45: "cloudy",  # fog
    48: "cloudy",  # depositing rime fog
    51: "rain",  # drizzle: light
    53: "rain",  # drizzle: moderate
    55: "rain",  # drizzle: dense
    56: "rain",  # freezing drizzle: light
    57: "rain",  # freezing drizzle: dense
    61: "rain",  # rain: slight
    63: "rain",  # rain: moderate
    65: "rain",  # rain: heavy
    66: "rain",  # freezing rain: light
    67: "rain",  # freezing rain: heavy
    71: "snow",  # snow fall: slight
    73: "snow",  # snow fall: moderate
    75: "snow",  # snow fall: heavy
    77: "snow",  # snow grains
    80: "rain",  # rain showers: slight
    81: "rain",  # rain showers: moderate
    82: "rain",  # rain showers: violent
    85: "snow",  # snow showers: slight
    86: "snow",  # snow showers: heavy
    95: "rain",  # thunderstorm
    96: "rain",  # thunderstorm with slight hail
    99: "rain",  # thunderstorm with heavy hail
}


class OpenMeteoProvider:
    source = "open-meteo"

    def __init__(
        self,
        *,
        base_url: str | None = None,
        timeout: float | None = None,
        api_key: str | None = None,
    ):
        self.base_url = base_url or settings.LOYALTY_OPEN_METEO_URL
        self.timeout = timeout if timeout is not None else settings.LOYALTY_OPEN_METEO_TIMEOUT
        self.api_key = settings.LOYALTY_OPEN_METEO_API_KEY if api_key is None else api_key
        parts = urllib.parse.urlsplit(self.base_url)
        # urlopen would also open file: and ftp: URLs; only the web is meant here.
        if parts.scheme not in {"http", "https"} or not parts.netloc:
            raise ImproperlyConfigured(
                f"LOYALTY_OPEN_METEO_URL must be an http(s) URL, got {self.base_url!r}"
            )
        self.host = parts.netloc

    def url(self, *, store: Store, day: dt.date) -> str:
        query = {
            "latitude": str(store.latitude),
            "longitude": str(store.longitude),
            "daily": "weather_code,precipitation_sum",
            "timezone": settings.TIME_ZONE,
            "start_date": day.isoformat(),
            "end_date": day.isoformat(),
            "precipitation_unit": "mm",
        }
        if self.api_key:
            query["apikey"] = self.api_key
        separator = "&" if urllib.parse.urlsplit(self.base_url).query else "?"
        return self.base_url + separator + urllib.parse.urlencode(query)

    def fetch(self, *, store: Store, day: dt.date) -> Observation | None:
        where = f"Open-Meteo ({self.host}), store {store.code} on {day.isoformat()}"
        request = urllib.request.Request(  # noqa: S310 (scheme checked in __init__)
            self.url(store=store, day=day),
            headers={"Accept": "application/json", "User-Agent": "loyalty-engine"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                body = response.read()
        except urllib.error.HTTPError as exc:
            raise WeatherProviderError(
                _("%(where)s: HTTP %(status)d %(reason)s")
                % {"where": where, "status": exc.code, "reason": _error_reason(exc)}
            ) from exc
        except (urllib.error.URLError, OSError) as exc:  # refused, DNS, TLS, timeout
            reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
            raise WeatherProviderError(
                _("%(where)s: unreachable (%(reason)s)") % {"where": where, "reason": reason}
            ) from exc
        return _observation(body, day=day, where=where)


def _error_reason(exc: urllib.error.HTTPError) -> str:
    """Open-Meteo explains a refusal as {"error": true, "reason": "..."}."""
    try:
        reason = json.loads(exc.read()).get("reason")
    except (ValueError, AttributeError, OSError):
        reason = None
    return f"({reason})" if reason else exc.reason or ""


def _observation(body: bytes, *, day: dt.date, where: str) -> Observation | None:
    """The day's values from a response; None when Open-Meteo has no data for it (null)."""
    try:
        data = json.loads(body, parse_float=Decimal)
        daily = data["daily"]
        index = daily["time"].index(day.isoformat())
        # `weathercode` is the name older deployments of the API answer with.
        codes = daily["weather_code"] if "weather_code" in daily else daily["weathercode"]
        code, precipitation = codes[index], daily["precipitation_sum"][index]
        if code is None or precipitation is None:
            log.info("%s: no data yet", where)
            return None
        condition = WMO_CONDITIONS.get(code) if isinstance(code, int | Decimal) else None
        precipitation = Decimal(precipitation)
    except (ValueError, KeyError, IndexError, TypeError, ArithmeticError) as exc:
        raise WeatherProviderError(
            _("%(where)s: unexpected response (%(error)s: %(detail)s)")
            % {"where": where, "error": type(exc).__name__, "detail": exc}
        ) from exc
    if condition is None:
        raise WeatherProviderError(
            _("%(where)s: unknown WMO weather code %(code)s") % {"where": where, "code": code}
        )
    return Observation(condition=condition, precipitation_mm=precipitation)
