import sys

from django.core.management.base import BaseCommand

from loyalty.selectors import ledger_drift


class Command(BaseCommand):
    help = (
        "Recompute every member's balances from the ledger and the lots; "
        "report any drift and exit 1 when there is some."
    )

    def handle(self, *args, **options):
        drifts = ledger_drift()
        if not drifts:
            self.stdout.write(self.style.SUCCESS("ledger OK: cached balances equal ledger sums"))
            return
        for drift in drifts[:1000]:
            self.stderr.write(f"member {drift.member_id}: {drift.problem}")
        members = len({d.member_id for d in drifts})
        self.stderr.write(
            self.style.ERROR(f"DRIFT: {len(drifts)} problem(s) in {members} member(s)")
        )
        sys.exit(1)
