"""Cohort retention's arithmetic (docs/metrics.md, "Cohort retention")."""

from decimal import ROUND_HALF_UP, Decimal

PLACES = Decimal("0.0001")


def retention(retained: int, size: int) -> Decimal | None:
    """Percent of a join-month cohort that purchased in a later (or the same) month: 12 of 40
    -> 30. None for an empty cohort (nothing to retain), never 0."""
    if size <= 0:
        return None
    if not 0 <= retained <= size:
        raise ValueError(f"retained {retained} is not within the cohort size {size}")
    return (Decimal(retained) * 100 / Decimal(size)).quantize(PLACES, rounding=ROUND_HALF_UP)
