"""Nightly jobs; each re-reads the database and is safe to run twice."""

from celery import shared_task


@shared_task(acks_late=True, ignore_result=True)
def release_pending_points_task() -> int:
    from loyalty.ledger import points_release_due

    return points_release_due()


@shared_task(acks_late=True, ignore_result=True)
def expire_points_task() -> int:
    from loyalty.ledger import points_expire_due

    return points_expire_due()


@shared_task(acks_late=True, ignore_result=True)
def expire_coupons_task() -> int:
    from loyalty.coupons import coupons_expire_due

    return coupons_expire_due()


@shared_task(ignore_result=True)
def noop_task() -> None:
    """Does nothing: the broker round-trip baseline of `make bench-events`."""
