"""The workers' doorbell: storing events sends the processing task after commit, unless one
is queued already and has not started (challenges.intake.events_doorbell_ring).

`sent` records each send the ring asks Celery for, in place of the send itself: with no
broker the task would run at once, in-process, and answer the doorbell before the next
ring. Sending through Redis to real worker processes is tests/challenges/test_workers.py's.
"""

import pytest
from django.core.cache import cache

from challenges.intake import DOORBELL, events_doorbell_ring, events_ingest
from challenges.models import Event
from challenges.tasks import process_pending_events_task
from tests.challenges.support import event
from tests.members.factories import MemberFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def sent(monkeypatch):
    cache.delete(DOORBELL)  # an earlier test's queued task, if any
    calls = []
    monkeypatch.setattr(process_pending_events_task, "delay", lambda: calls.append("task"))
    yield calls
    cache.delete(DOORBELL)


def store(client_id, member):
    return events_ingest(source_key="test", items=[event(client_id, member, "app_open")])


def test_events_stored_while_a_task_is_queued_send_no_other(
    sent, django_capture_on_commit_callbacks
):
    member = MemberFactory()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        store("E-1", member)
    assert callbacks == [events_doorbell_ring]
    assert sent == ["task"]
    # Two more requests before a worker takes the task: it will read their events too.
    for client_id in ("E-2", "E-3"):
        with django_capture_on_commit_callbacks(execute=True):
            store(client_id, member)
    assert sent == ["task"]
    assert Event.objects.filter(status=Event.Status.PENDING).count() == 3
    # The one queued task, when a worker takes it (run here), processes all three: no event
    # whose ring was skipped is left behind.
    assert process_pending_events_task() == 3
    assert not Event.objects.filter(status=Event.Status.PENDING).exists()


def test_a_started_task_lets_the_next_event_ring_again(sent, django_capture_on_commit_callbacks):
    member = MemberFactory()
    with django_capture_on_commit_callbacks(execute=True):
        store("E-1", member)
    # A worker takes the task (run here): it answers the doorbell, then reads the pending
    # events, E-1 among them.
    assert process_pending_events_task() == 1
    assert Event.objects.get(client_id="E-1").status == Event.Status.PROCESSED
    with django_capture_on_commit_callbacks(execute=True):
        store("E-2", member)
    assert sent == ["task", "task"]


def test_a_send_that_fails_leaves_no_doorbell_set(monkeypatch, django_capture_on_commit_callbacks):
    cache.delete(DOORBELL)

    def broker_down():
        raise ConnectionError("broker down")

    monkeypatch.setattr(process_pending_events_task, "delay", broker_down)
    with pytest.raises(ConnectionError), django_capture_on_commit_callbacks(execute=True):
        store("E-1", MemberFactory())
    # Nothing is queued, so the next event must ring again (not wait for the time limit).
    assert cache.get(DOORBELL) is None
    assert Event.objects.filter(client_id="E-1").exists()  # safe in the table for beat


def test_with_a_broker_but_no_shared_cache_every_event_rings(
    sent, settings, django_capture_on_commit_callbacks
):
    # RabbitMQ as the broker and no REDIS_URL: the cache is this process's memory, which no
    # worker could clear, so the doorbell is not kept there.
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    member = MemberFactory()
    for client_id in ("E-1", "E-2"):
        with django_capture_on_commit_callbacks(execute=True):
            store(client_id, member)
    assert sent == ["task", "task"]
