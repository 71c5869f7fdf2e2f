from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from challenges.weather import WeatherImportError, weather_csv_rows, weather_observations_import


class Command(BaseCommand):
    help = (
        "Import weather observations from a CSV file with the header "
        "store_code,date,condition,precipitation_mm. A store and day already stored is "
        "replaced; one bad row refuses the whole file (each problem is printed)."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="CSV file (UTF-8)")
        parser.add_argument(
            "--source", default="csv", help="recorded on each row (default: csv; 40 characters)"
        )

    def handle(self, *args, file, source, **options):
        path = Path(file)
        try:
            # utf-8-sig: a file saved by a spreadsheet may start with a byte-order mark.
            with path.open(encoding="utf-8-sig", newline="") as stream:
                rows = weather_csv_rows(stream)
            result = weather_observations_import(rows=rows, source=source)
        except OSError as exc:
            raise CommandError(f"cannot read {file}: {exc.strerror or exc}") from exc
        except UnicodeDecodeError as exc:
            raise CommandError(f"{file} is not UTF-8 text ({exc.reason})") from exc
        except WeatherImportError as exc:
            for message in exc.messages:
                self.stderr.write(str(message))
            raise CommandError(f"{file}: {len(exc.messages)} problem(s), nothing imported") from exc
        self.stdout.write(
            f"{file}: {result.created} created, {result.updated} updated, "
            f"{result.unchanged} unchanged"
        )
