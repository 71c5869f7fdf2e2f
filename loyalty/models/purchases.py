from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _


class Channel(models.TextChoices):
    STORE = "store", _("In store")
    ONLINE = "online", _("Online shop")
    APP = "app", _("App")


class Purchase(models.Model):
    order_reference = models.CharField(_("order reference"), max_length=64, unique=True)
    member = models.ForeignKey(
        "members.Member",
        verbose_name=_("member"),
        on_delete=models.PROTECT,
        related_name="purchases",
    )
    store = models.ForeignKey(
        "members.Store", verbose_name=_("store"), on_delete=models.PROTECT, null=True, blank=True
    )
    staff = models.ForeignKey(
        "members.Staff", verbose_name=_("staff"), on_delete=models.PROTECT, null=True, blank=True
    )
    channel = models.CharField(
        _("channel"), max_length=10, choices=Channel.choices, default=Channel.STORE
    )
    occurred_at = models.DateTimeField(_("occurred at"))
    total = models.PositiveBigIntegerField(_("total (yen)"))
    returned_total = models.PositiveBigIntegerField(_("returned (yen)"), default=0, editable=False)
    created_at = models.DateTimeField(_("recorded at"), auto_now_add=True)

    class Meta:
        verbose_name = _("purchase")
        verbose_name_plural = _("purchases")
        ordering = ["-occurred_at"]
        # occurred_at and created_at: the nightly KPI run finds a day's purchases, those
        # leaving its trailing windows and those recorded late (metrics.member_state).
        indexes = [
            # With what the KPIs read of a purchase (PostgreSQL: an index-only scan finds a
            # member's purchases without visiting the table's pages).
            models.Index(
                fields=["member", "occurred_at"],
                include=["id", "channel", "total", "returned_total"],
                name="purchase_member_time",
            ),
            # With the member: the KPI member state's scans read the index alone.
            models.Index(
                fields=["occurred_at"], include=["member"], name="purchase_occurred_member"
            ),
            models.Index(fields=["created_at"], include=["member"], name="purchase_created_member"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(returned_total__lte=F("total")), name="purchase_returned_within_total"
            ),
        ]

    def __str__(self) -> str:
        return self.order_reference


class PurchaseLine(models.Model):
    purchase = models.ForeignKey(Purchase, on_delete=models.CASCADE, related_name="lines")
    sku = models.CharField(_("SKU"), max_length=64)
    category = models.CharField(_("category"), max_length=64, blank=True)
    quantity = models.PositiveIntegerField(_("quantity"))
    unit_price = models.PositiveBigIntegerField(_("unit price (yen)"))

    class Meta:
        verbose_name = _("purchase line")
        verbose_name_plural = _("purchase lines")
        indexes = [models.Index(fields=["sku"])]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="line_quantity_positive")
        ]

    def __str__(self) -> str:
        return f"{self.sku} x{self.quantity}"


class PurchaseReturn(models.Model):
    purchase = models.ForeignKey(Purchase, on_delete=models.PROTECT, related_name="returns")
    return_reference = models.CharField(_("return reference"), max_length=64, unique=True)
    amount = models.PositiveBigIntegerField(_("amount returned (yen)"))
    occurred_at = models.DateTimeField(_("occurred at"))
    created_at = models.DateTimeField(_("recorded at"), auto_now_add=True)

    class Meta:
        verbose_name = _("return")
        verbose_name_plural = _("returns")
        ordering = ["-occurred_at"]
        indexes = [
            models.Index(
                fields=["occurred_at"], include=["purchase"], name="return_occurred_purchase"
            ),
            models.Index(
                fields=["created_at"], include=["purchase"], name="return_created_purchase"
            ),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="return_amount_positive")
        ]

    def __str__(self) -> str:
        return self.return_reference
