from celery import shared_task
from django.conf import settings


@shared_task(acks_late=True, ignore_result=True)
def process_pending_events_task() -> int:
    """Process pending events until none is left. Safe to run any number of times at once:
    batches are claimed with SKIP LOCKED."""
    from challenges.intake import events_doorbell_answer
    from challenges.processing import events_process_pending

    events_doorbell_answer()
    return events_process_pending(batch_size=settings.LOYALTY_EVENT_BATCH_SIZE)


@shared_task(acks_late=True, ignore_result=True)
def update_challenge_statuses_task() -> int:
    from challenges.services import challenges_update_statuses

    return challenges_update_statuses()


@shared_task(acks_late=True, ignore_result=True)
def fetch_weather_task() -> int:
    """Yesterday's and today's weather for every store from LOYALTY_WEATHER_PROVIDER; nothing
    when it is not set. Safe to repeat (upserts); a provider error writes nothing for that day
    and fails the task with the reason. Returns the observations created or updated."""
    from challenges.weather import weather_fetch_recent

    return sum(r.created + r.updated for r in weather_fetch_recent())


@shared_task(acks_late=True, ignore_result=True)
def scheduled_events_task() -> int:
    """Nightly: birthday, anniversary and win-back events for today and any missed day.
    Safe to run twice: a day's events have deterministic client ids."""
    from challenges.scheduled import scheduled_events_catch_up

    done = scheduled_events_catch_up()
    return sum(sum(counts.values()) for counts in done.values())
