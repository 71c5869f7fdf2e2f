"""KPI snapshots by hand (docs/metrics.md, "Recomputing").

manage.py kpis recompute --from 2026-03-01 --to 2026-03-31 [--kpi churn_rate ...]
manage.py kpis nightly [--today 2026-04-01]
manage.py kpis state [--check] [--rebuild]
"""

import datetime as dt

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from tqdm import tqdm

from metrics.member_state import (
    member_state_differences,
    member_state_update,
    members_recorded_since_update,
)
from metrics.member_state_totals import totals_differences
from metrics.models import MemberStateMark
from metrics.snapshots import KpiRunError, RunResult, kpis_nightly, kpis_recompute

OPTION = {"start": "--from", "end": "--to", "kpis": "--kpi", "today": "--today"}


def _date(option: str, raw: str) -> dt.date:
    try:
        return dt.datetime.strptime(raw, "%Y-%m-%d").date()  # noqa: DTZ007 (a calendar date)
    except ValueError:
        raise CommandError(f"{option}: {raw!r} is not a date (YYYY-MM-DD)") from None


class Command(BaseCommand):
    help = "Recompute KPI snapshots over a range of days, or run the nightly job by hand."

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        recompute = actions.add_parser(
            "recompute",
            help="Recompute every day, week, month and quarter overlapping the range; an "
            "interrupted run of the same range resumes where it stopped.",
        )
        recompute.add_argument("--from", dest="start", required=True, help="First day.")
        recompute.add_argument("--to", dest="end", required=True, help="Last day (inclusive).")
        recompute.add_argument(
            "--kpi",
            dest="kpis",
            action="append",
            help="Only this KPI (repeat for several; default: all).",
        )
        nightly = actions.add_parser(
            "nightly", help="What the 01:30 job does: the windows containing yesterday."
        )
        nightly.add_argument("--today", help="Run as if today were this day (YYYY-MM-DD).")
        state = actions.add_parser(
            "state",
            help="The KPI member state the nightly job keeps: its date; --check compares it "
            "with the books, --rebuild recomputes it from them.",
        )
        state.add_argument("--check", action="store_true", help="Compare with the books.")
        state.add_argument("--rebuild", action="store_true", help="Recompute from the books.")

    def handle(self, *args, **options):
        if options["action"] == "state":
            return self._state(check=options["check"], rebuild=options["rebuild"])
        # The bar redraws its line with "\r": write to the stream itself, not through the
        # command's wrapper, which ends every write with a newline.
        stream = getattr(self.stderr, "_out", self.stderr)
        bars: list[tqdm] = []  # made by the first report of windows to compute: none, no bar

        def progress(done: int, total: int) -> None:
            if not bars:
                if not total:
                    return
                quiet = options["verbosity"] == 0
                bars.append(tqdm(total=total, unit="window", file=stream, disable=quiet))
            bars[0].total = total
            bars[0].n = done
            bars[0].refresh()

        try:
            if options["action"] == "recompute":
                result = kpis_recompute(
                    start=_date("--from", options["start"]),
                    end=_date("--to", options["end"]),
                    kpis=options["kpis"],
                    progress=progress,
                )
            else:
                today = timezone.localdate()
                if options["today"]:
                    chosen = _date("--today", options["today"])
                    if chosen > today:
                        raise CommandError(f"--today: must not be after today ({today})")
                    today = chosen
                result = kpis_nightly(today=today, progress=progress)
        except KpiRunError as exc:
            raise CommandError(f"{OPTION.get(exc.field, exc.field)}: {exc.message}") from None
        finally:
            for bar in bars:
                bar.close()
        self.stdout.write(self._summary(result))

    def _state(self, *, check: bool, rebuild: bool) -> None:
        mark = MemberStateMark.objects.first()
        if rebuild:
            update = member_state_update(
                today=mark.as_of if mark else timezone.localdate(), rebuild=True
            )
            self.stdout.write(f"Member state rebuilt at {update.as_of}: {update.members} members.")
            mark = MemberStateMark.objects.get()
        if mark is None:
            self.stdout.write("No member state yet: the nightly job builds it.")
            return
        updated = timezone.localtime(mark.read_at)
        self.stdout.write(f"Member state at {mark.as_of} (updated {updated:%Y-%m-%d %H:%M}).")
        if check:
            differing = member_state_differences(mark.as_of)
            recorded = members_recorded_since_update(differing)
            if recorded:
                self.stdout.write(
                    f"{len(recorded)} members differ from the books with rows recorded since "
                    f"the update (ids {_ids(recorded)}): the next night takes them in (or a"
                    " `kpis recompute` of their days now)."
                )
            unexplained = sorted(set(differing) - set(recorded))
            if unexplained:
                raise CommandError(
                    f"{len(unexplained)} members differ from the books (ids "
                    f"{_ids(unexplained)}) with nothing recorded since the update: the books "
                    "were written around the services; run 'kpis state --rebuild'"
                )
            tables = totals_differences(as_of=mark.as_of)
            if tables:
                raise CommandError(
                    f"The totals in {', '.join(tables)} differ from the member state's rows; "
                    "run 'kpis state --rebuild'"
                )
            self.stdout.write(
                "It equals the books but for those rows." if recorded else "It equals the books."
            )

    def _summary(self, result: RunResult) -> str:
        if result.start is None:
            return "Nothing to do: the last night is already done."
        span = f"{result.start.isoformat()}..{result.end.isoformat()}"
        text = (
            f"{span}: {result.windows} windows, {result.rows} rows written "
            f"in {result.seconds:.1f} s"
        )
        if result.resumed_after:
            text += (
                f" (resumed after {result.resumed_after.isoformat()}: "
                f"{result.skipped} windows already done)"
            )
        return text + "."


def _ids(ids: list[int]) -> str:
    shown = ", ".join(str(pk) for pk in ids[:20])
    return shown + (f", ... ({len(ids) - 20} more)" if len(ids) > 20 else "")
