from django.conf import settings
from django.db import connection
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from loyalty.celery import app as celery_app


def _database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True
    except Exception:  # noqa: BLE001 - any failure means "not healthy"
        return False


def _broker_ok() -> bool:
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return True  # no broker configured: tasks run in-process
    try:
        with celery_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        return True
    except Exception:  # noqa: BLE001
        return False


class HealthView(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = []

    @extend_schema(
        operation_id="health",
        responses={
            200: inline_serializer(
                "Health", {"database": serializers.CharField(), "broker": serializers.CharField()}
            ),
            503: OpenApiResponse(
                inline_serializer(
                    "HealthDown",
                    {"database": serializers.CharField(), "broker": serializers.CharField()},
                ),
                description=_("The database or the broker is down; each is `ok` or `down`."),
                examples=[
                    OpenApiExample("Broker down", value={"database": "ok", "broker": "down"})
                ],
            ),
        },
        summary=_("Database and broker status, for load balancers and monitoring"),
        examples=[OpenApiExample("Healthy", value={"database": "ok", "broker": "ok"})],
    )
    def get(self, request):
        checks = {"database": _database_ok(), "broker": _broker_ok()}
        body = {name: "ok" if ok else "down" for name, ok in checks.items()}
        return Response(body, status=200 if all(checks.values()) else 503)
