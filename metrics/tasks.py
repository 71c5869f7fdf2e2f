"""Nightly KPI snapshots; thin, re-reads the database and is safe to run twice."""

from celery import shared_task


@shared_task(acks_late=True, ignore_result=True)
def kpis_nightly_task() -> int:
    """Recompute the snapshot windows containing yesterday (metrics.snapshots.kpis_nightly);
    returns the rows written. A second run the same night does nothing."""
    from metrics.snapshots import kpis_nightly

    return kpis_nightly().rows
