"""Single-event intake over HTTP against a bare DRF create view, on a throwaway test database.

    make bench-events        # runs this after bench/events.py
    DATABASE_URL=postgres://... REDIS_URL=redis://... .venv/bin/python bench/event_requests.py

Both go through the whole stack (Django test client: middleware, API key authentication,
scope permission, throttling, one transaction per request) and store one Event row per
request. The baseline is what a developer would write first: a ModelSerializer, a
CreateAPIView, no payload schema, no idempotency answer, no queue. The engine's view also
checks the payload against its type's JSON Schema, answers duplicates and conflicts, and
(with a broker) rings the workers after commit: it sends the processing task when none is
queued, and here no worker takes it, so about once a minute (with workers, once per task
they take). Prints requests per second and the ratio.
"""

import os
import time

from _support import throwaway_database  # noqa: E402 - sets Django up
from django.conf import settings
from django.db import connection
from django.urls import include, path
from rest_framework import generics, serializers

from challenges.models import Event, EventType
from members.authentication import scoped
from members.models import Member

# Under the default throttle (6,000 requests a minute per key) with a key per run.
N = int(os.environ.get("BENCH_REQUESTS", "1500"))
ROUNDS = 3  # alternate the two views, keep each one's best round (the machine is shared)


class BareEventSerializer(serializers.ModelSerializer):
    type = serializers.SlugRelatedField(slug_field="code", queryset=EventType.objects.all())
    member_number = serializers.SlugRelatedField(
        source="member", slug_field="member_number", queryset=Member.objects.all()
    )

    class Meta:
        model = Event
        fields = ["client_id", "type", "member_number", "occurred_at", "payload"]


class BareEventCreate(generics.CreateAPIView):
    serializer_class = BareEventSerializer
    permission_classes = [scoped("events:write")]

    def perform_create(self, serializer):
        serializer.save(source_key=f"bare:{self.request.auth.pk}", body_hash="")


urlpatterns = [
    path("bench/bare-events", BareEventCreate.as_view()),
    path("", include("loyalty.urls")),
]


def main():
    settings.ROOT_URLCONF = __name__
    settings.ALLOWED_HOSTS = ["*"]
    with throwaway_database():
        run()


def run():
    from challenges.intake import events_processing_deferred

    if settings.CELERY_TASK_ALWAYS_EAGER:
        print("no broker: processing deferred (in-process mode would evaluate in the request)")
        with events_processing_deferred():
            return measure()
    print(f"broker: {settings.CELERY_BROKER_URL} (each accepted event rings the workers)")
    return measure()


def measure():
    from django.test import Client

    from members.api_keys import api_key_create
    from members.numbers import generate_member_number

    print(f"database: {connection.vendor}, {N:,} requests per round, best of {ROUNDS}")
    members = Member.objects.bulk_create(
        Member(member_number=generate_member_number(), name=f"bench {i}") for i in range(200)
    )
    client = Client()

    def body(i, prefix):
        return {
            "client_id": f"{prefix}-{i}",
            "type": "sns_follow",
            "member_number": members[i % len(members)].member_number,
            "occurred_at": "2026-06-01T12:00:00+09:00",
            "payload": {"platform": "instagram", "account": "shop"},
        }

    def requests_per_s(url, prefix):
        _key, raw = api_key_create(name=prefix, scopes=["events:write"])
        auth = {"HTTP_AUTHORIZATION": f"Api-Key {raw}"}
        for i in range(20):  # warm up: imports, caches, connection
            client.post(url, body(i, f"{prefix}-warm"), content_type="application/json", **auth)
        started = time.perf_counter()
        for i in range(N):
            response = client.post(url, body(i, prefix), content_type="application/json", **auth)
            assert response.status_code == 201, (response.status_code, response.content[:300])
        return N / (time.perf_counter() - started)

    best = {"bare": 0.0, "engine": 0.0}
    for round_ in range(ROUNDS):
        best["bare"] = max(best["bare"], requests_per_s("/bench/bare-events", f"bare{round_}"))
        best["engine"] = max(best["engine"], requests_per_s("/api/v1/events", f"eng{round_}"))
    assert Event.objects.filter(source_key__startswith="key:").count() == ROUNDS * (N + 20)
    print(
        f"{'bare DRF create view (ModelSerializer)':<48} {best['bare']:8.0f} requests/s  baseline"
    )
    ratio = best["engine"] / best["bare"]
    print(f"{'POST /api/v1/events, one event':<48} {best['engine']:8.0f} requests/s  {ratio:5.2f}x")


if __name__ == "__main__":
    main()
