from celery import shared_task
from django.conf import settings


@shared_task(acks_late=True, ignore_result=True)
def process_pending_events_task() -> int:
    """Process pending events until none is left. Safe to run any number of times at once:
    batches are claimed with SKIP LOCKED."""
    from challenges.processing import events_process_pending

    return events_process_pending(batch_size=settings.LOYALTY_EVENT_BATCH_SIZE)


@shared_task(acks_late=True, ignore_result=True)
def update_challenge_statuses_task() -> int:
    from challenges.services import challenges_update_statuses

    return challenges_update_statuses()
