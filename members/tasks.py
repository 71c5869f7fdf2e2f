from celery import shared_task


@shared_task(acks_late=True, ignore_result=True)
def recalculate_tiers_task() -> int:
    from members.services import tiers_recalculate

    return tiers_recalculate()
