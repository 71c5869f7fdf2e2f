import datetime as dt

from django.core.management.base import BaseCommand, CommandError

from challenges.scheduled import InvalidScheduleDay, local_today, scheduled_events_create


class Command(BaseCommand):
    help = (
        "Create the scheduled events (birthday, anniversary, win_back) of one programme-local "
        "day, today by default, and print how many were new. Safe to run again."
    )

    def add_arguments(self, parser):
        parser.add_argument("--date", help="The day, YYYY-MM-DD (default: today).")

    def handle(self, *args, **options):
        raw = options["date"]
        if raw is None:
            day = local_today()
        else:
            try:
                day = dt.date.fromisoformat(raw)
            except ValueError:
                raise CommandError(f"--date: not a date (YYYY-MM-DD): {raw!r}") from None
        try:
            counts = scheduled_events_create(day=day)
        except InvalidScheduleDay as exc:
            raise CommandError(f"--date: {exc.message}") from None
        summary = ", ".join(f"{code} {n}" for code, n in counts.items())
        self.stdout.write(f"{day}: {summary}")
