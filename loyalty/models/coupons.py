from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _


class CouponTemplate(models.Model):
    class Kind(models.TextChoices):
        AMOUNT_OFF = "amount_off", _("Fixed amount off")
        PERCENT_OFF = "percent_off", _("Percentage off")
        FREE_ITEM = "free_item", _("Free item")

    code = models.SlugField(_("code"), max_length=50, unique=True)
    name = models.CharField(_("name"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    kind = models.CharField(_("kind"), max_length=12, choices=Kind.choices)
    amount_off = models.PositiveIntegerField(_("amount off (yen)"), null=True, blank=True)
    percent_off = models.PositiveSmallIntegerField(_("percent off"), null=True, blank=True)
    free_item_sku = models.CharField(_("free item SKU"), max_length=64, blank=True)
    valid_from = models.DateTimeField(_("valid from"), null=True, blank=True)
    valid_until = models.DateTimeField(
        _("valid until"), null=True, blank=True, help_text=_("Fixed end of validity.")
    )
    valid_days = models.PositiveIntegerField(
        _("valid days after issue"),
        null=True,
        blank=True,
        help_text=_("Alternative to a fixed end: each coupon is valid this many days from issue."),
    )
    total_stock = models.PositiveIntegerField(
        _("total stock"), null=True, blank=True, help_text=_("Empty = unlimited.")
    )
    issued_count = models.PositiveIntegerField(_("issued"), default=0, editable=False)
    per_member_limit = models.PositiveIntegerField(
        _("limit per member"), null=True, blank=True, default=1, help_text=_("Empty = unlimited.")
    )
    stores = models.ManyToManyField(
        "members.Store",
        verbose_name=_("valid stores"),
        blank=True,
        help_text=_("Empty = valid in every store."),
    )
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("coupon template")
        verbose_name_plural = _("coupon templates")
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(kind="amount_off", amount_off__gt=0, percent_off__isnull=True)
                    | Q(
                        kind="percent_off",
                        percent_off__gte=1,
                        percent_off__lte=100,
                        amount_off__isnull=True,
                    )
                    | (
                        Q(kind="free_item", amount_off__isnull=True, percent_off__isnull=True)
                        & ~Q(free_item_sku="")
                    )
                ),
                name="template_benefit_matches_kind",
            ),
            # Exactly one validity rule: a fixed end date or N days after issue.
            models.CheckConstraint(
                condition=(
                    Q(valid_until__isnull=False, valid_days__isnull=True)
                    | Q(valid_until__isnull=True, valid_days__gt=0)
                ),
                name="template_one_validity_rule",
            ),
            models.CheckConstraint(
                condition=Q(valid_from__isnull=True)
                | Q(valid_until__isnull=True)
                | Q(valid_from__lt=F("valid_until")),
                name="template_window_ordered",
            ),
            models.CheckConstraint(
                condition=Q(total_stock__isnull=True) | Q(issued_count__lte=F("total_stock")),
                name="template_stock_not_exceeded",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Coupon(models.Model):
    class Status(models.TextChoices):
        ISSUED = "issued", _("Issued")
        USED = "used", _("Used")
        EXPIRED = "expired", _("Expired")
        VOIDED = "voided", _("Voided")

    class IssuedVia(models.TextChoices):
        STAFF = "staff", _("Staff")
        CHALLENGE = "challenge", _("Challenge")
        API = "api", _("Integration")
        DEMO = "demo", _("Demo data")

    code = models.CharField(_("code"), max_length=20, unique=True, editable=False)
    template = models.ForeignKey(
        CouponTemplate, verbose_name=_("template"), on_delete=models.PROTECT, related_name="coupons"
    )
    member = models.ForeignKey(
        "members.Member", verbose_name=_("member"), on_delete=models.PROTECT, related_name="coupons"
    )
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.ISSUED
    )
    issued_at = models.DateTimeField(_("issued at"))
    valid_until = models.DateTimeField(_("valid until"))
    issued_via = models.CharField(_("issued via"), max_length=10, choices=IssuedVia.choices)
    issued_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("issued by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    challenge_version = models.ForeignKey(
        "challenges.ChallengeVersion",
        verbose_name=_("challenge version"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="coupons",
    )
    used_at = models.DateTimeField(_("used at"), null=True, blank=True)
    used_store = models.ForeignKey(
        "members.Store",
        verbose_name=_("used at store"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
    )
    order_reference = models.CharField(_("order reference"), max_length=64, blank=True)
    voided_at = models.DateTimeField(_("voided at"), null=True, blank=True)
    voided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("voided by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    void_reason = models.CharField(_("void reason"), max_length=255, blank=True)

    class Meta:
        verbose_name = _("coupon")
        verbose_name_plural = _("coupons")
        ordering = ["-issued_at", "-id"]
        indexes = [
            models.Index(fields=["member", "template"]),
            models.Index(
                fields=["valid_until"], condition=Q(status="issued"), name="coupon_issued_by_expiry"
            ),
        ]
        permissions = [
            ("issue_coupon", _("Can issue a coupon to a member")),
            ("redeem_coupon", _("Can redeem a coupon at the counter")),
            ("void_coupon", _("Can void a coupon")),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~Q(status="used") | (Q(used_at__isnull=False) & ~Q(order_reference="")),
                name="coupon_used_has_order",
            ),
            models.CheckConstraint(
                condition=~Q(status="voided") | Q(voided_at__isnull=False),
                name="coupon_voided_has_date",
            ),
        ]

    def __str__(self) -> str:
        from loyalty.coupons import coupon_code_display

        return coupon_code_display(self.code)
