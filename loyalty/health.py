"""Liveness for load balancers and docker compose: `GET /healthz` and the probe that calls it.

The view answers 200 only when the database answers, so a web container that lost its database
is reported unhealthy. `python -m loyalty.health` is the container healthcheck: it sends the
request with a Host header from DJANGO_ALLOWED_HOSTS, which production settings enforce.
"""

import os
import sys
import urllib.request

from django.db import DatabaseError, connection, transaction
from django.http import JsonResponse
from django.views.decorators.http import require_GET


@transaction.non_atomic_requests  # a lost database must give 503, not fail opening a transaction
@require_GET
def healthz(request):
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError:
        return JsonResponse({"status": "error", "database": "unavailable"}, status=503)
    return JsonResponse({"status": "ok"})


def probe(url: str = "http://127.0.0.1:8000/healthz", timeout: float = 5.0) -> bool:
    hosts = [h.strip() for h in os.environ.get("DJANGO_ALLOWED_HOSTS", "").split(",")]
    host = next((h.lstrip(".") for h in hosts if h and h != "*"), "localhost")
    request = urllib.request.Request(url, headers={"Host": host})  # noqa: S310 (fixed http URL)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return response.status == 200
    except OSError:
        return False


if __name__ == "__main__":
    sys.exit(0 if probe() else 1)
