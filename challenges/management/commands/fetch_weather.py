import datetime as dt
import re

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from challenges.weather import (
    WeatherNotConfigured,
    WeatherProviderError,
    fetch_summary,
    weather_fetch,
    weather_fetch_recent,
)


def _day(value: str) -> dt.date:
    try:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            raise ValueError(value)
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise CommandError(f"--date: '{value}' is not a date (YYYY-MM-DD)") from exc


class Command(BaseCommand):
    help = (
        "Fetch weather for every active store with coordinates from the provider set in "
        "LOYALTY_WEATHER_PROVIDER: one day with --date, else yesterday and today (like the "
        "early-morning job)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--date", help="YYYY-MM-DD (default: yesterday and today)")

    def handle(self, *args, date, **options):
        day = _day(date) if date else None
        try:
            if day is not None:
                results = [weather_fetch(day=day)]
            else:
                results = weather_fetch_recent()
                if not results:
                    raise WeatherNotConfigured()
        except (WeatherNotConfigured, WeatherProviderError) as exc:
            raise CommandError(str(exc.message)) from exc
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from exc
        for result in results:
            self.stdout.write(f"{result.day.isoformat()}: {fetch_summary(result)}")
