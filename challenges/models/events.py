"""Events: everything a member does that a challenge may reward, stored before it is evaluated.

The table is the outbox of docs/architecture.md: intake commits Event rows, workers claim the
pending ones, evaluate them and mark them processed in the transaction that writes the effects.
"""

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _


class EventType(models.Model):
    """A kind of event. The built-in types come from a data migration; marketers add custom
    types with a JSON Schema for their payload (checked at intake)."""

    code = models.SlugField(_("code"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=100)
    description = models.TextField(_("description"), blank=True)
    builtin = models.BooleanField(_("built in"), default=False, editable=False)
    payload_schema = models.JSONField(
        _("payload schema"),
        default=dict,
        blank=True,
        help_text=_("A JSON Schema (draft 2020-12) object the event payload must match."),
    )
    member_app = models.BooleanField(
        _("members may send it"),
        default=False,
        help_text=_("Members may send this event from the app (POST /api/v1/me/events)."),
    )

    class Meta:
        verbose_name = _("event type")
        verbose_name_plural = _("event types")
        ordering = ["code"]

    def __str__(self) -> str:
        return self.code

    @property
    def display_name(self) -> str:
        """The name in the user's language for a built-in type (their names are in the
        translation catalogue: challenges/builtin_types.py); as entered otherwise."""
        return gettext(self.name) if self.builtin else self.name


class Event(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        PROCESSED = "processed", _("Processed")
        REJECTED = "rejected", _("Rejected")

    id = models.BigAutoField(primary_key=True)
    # Who sent it: "key:<api key id>", "member:<member id>", "purchases", "returns", "system".
    # Client ids are unique per source, so two integrations can't collide.
    source_key = models.CharField(_("source"), max_length=40)
    client_id = models.CharField(_("client id"), max_length=64)
    type = models.ForeignKey(
        EventType, verbose_name=_("type"), on_delete=models.PROTECT, related_name="events"
    )
    member = models.ForeignKey(
        "members.Member", verbose_name=_("member"), on_delete=models.PROTECT, related_name="events"
    )
    store = models.ForeignKey(
        "members.Store", verbose_name=_("store"), on_delete=models.PROTECT, null=True, blank=True
    )
    occurred_at = models.DateTimeField(_("occurred at"))
    payload = models.JSONField(_("payload"), default=dict, blank=True)
    # Given by the client, or the store's observation snapshotted when the event is evaluated.
    weather = models.JSONField(_("weather"), null=True, blank=True)
    purchase = models.ForeignKey(
        "loyalty.Purchase",
        verbose_name=_("purchase"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="events",
    )
    purchase_return = models.OneToOneField(
        "loyalty.PurchaseReturn",
        verbose_name=_("return"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="event",
    )
    # SHA-256 of the canonical request, to tell a retry (same body) from a conflict.
    body_hash = models.CharField(max_length=64, editable=False)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.PENDING
    )
    rejection = models.CharField(_("rejection reason"), max_length=255, blank=True)
    received_at = models.DateTimeField(_("received at"), auto_now_add=True)
    processed_at = models.DateTimeField(_("processed at"), null=True, blank=True)

    class Meta:
        verbose_name = _("event")
        verbose_name_plural = _("events")
        ordering = ["-occurred_at", "-id"]
        indexes = [
            models.Index(fields=["member", "occurred_at"]),
            models.Index(fields=["id"], condition=Q(status="pending"), name="event_pending"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["source_key", "client_id"], name="event_once_per_source"
            ),
            models.CheckConstraint(
                condition=Q(status="pending", processed_at__isnull=True)
                | (~Q(status="pending") & Q(processed_at__isnull=False)),
                name="event_processed_at_iff_done",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.type_id}:{self.client_id}"


class WeatherObservation(models.Model):
    class Condition(models.TextChoices):
        CLEAR = "clear", _("Clear")
        CLOUDY = "cloudy", _("Cloudy")
        RAIN = "rain", _("Rain")
        SNOW = "snow", _("Snow")

    store = models.ForeignKey(
        "members.Store", verbose_name=_("store"), on_delete=models.CASCADE, related_name="weather"
    )
    date = models.DateField(_("date"))
    condition = models.CharField(_("condition"), max_length=10, choices=Condition.choices)
    precipitation_mm = models.DecimalField(
        _("precipitation (mm)"), max_digits=6, decimal_places=1, default=0
    )
    source = models.CharField(_("source"), max_length=40, blank=True)

    class Meta:
        verbose_name = _("weather observation")
        verbose_name_plural = _("weather observations")
        ordering = ["-date", "store"]
        constraints = [
            models.UniqueConstraint(fields=["store", "date"], name="weather_once_per_store_day"),
            models.CheckConstraint(
                condition=Q(precipitation_mm__gte=0), name="weather_precipitation_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.store_id} {self.date} {self.condition}"
