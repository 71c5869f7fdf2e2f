from django.db import models


class IdempotencyRecord(models.Model):
    """The first response to a write carrying an idempotency key, kept permanently: the same
    key with the same request replays it; the same key with another request is a conflict."""

    owner = models.CharField(max_length=64)  # who sent it: "key:<api key id>", "member:<id>"
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField()
    response = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["owner", "key"], name="idempotency_once_per_owner")
        ]

    def __str__(self) -> str:
        return f"{self.owner} {self.key}"
