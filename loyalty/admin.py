"""The staff admin for the ledger, coupons and purchases.

Money-like rows are never added, changed or deleted here: the ledger and lots are read-only
for everyone, coupons change only through the void and redeem pages (which call the coupon
services), purchases arrive from the POS.
"""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.http import HttpResponseRedirect
from django.urls import path, reverse
from django.utils import formats, timezone
from django.utils.html import format_html
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from challenges.processing import AWARD_REFERENCE
from members.models import Member, Store
from members.numbers import member_number_as_written

from .admin_base import (
    ReadOnlyAdmin,
    ReadOnlyInline,
    add_service_error,
    change_link,
    render_service_form,
    require_perm,
    too_many_selected,
)
from .coupons import coupon_code_display, coupon_code_normalize, coupon_redeem, coupon_void
from .errors import LoyaltyError
from .models import (
    Coupon,
    CouponTemplate,
    LedgerEntry,
    PointLot,
    Purchase,
    PurchaseLine,
    PurchaseReturn,
)
from .models.ledger import EntrySource

admin.site.site_header = _("Loyalty engine")
admin.site.site_title = _("Loyalty engine")
admin.site.index_title = _("Administration")


class MemberColumnsMixin:
    """Rows that belong to a member: a member column linking to the member page, and search
    by a member number read off a card (spaces or dashes allowed)."""

    member_lookup = "member__member_number"

    @admin.display(description=_("member"), ordering="member__member_number")
    def member_link(self, obj):
        return change_link(obj.member)

    def get_search_results(self, request, queryset, search_term):
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        number = member_number_as_written(search_term.strip())
        if number:
            results = results | queryset.filter(**{self.member_lookup: number})
        return results, may_have_duplicates


# --- Ledger --------------------------------------------------------------------------------


@admin.register(LedgerEntry)
class LedgerEntryAdmin(MemberColumnsMixin, ReadOnlyAdmin):
    list_display = [
        "occurred_at",
        "member_link",
        "kind",
        "state",
        "points",
        "source",
        "reason",
        "reference_link",
        "created_by",
    ]
    list_filter = ["kind", "state", "source"]
    list_select_related = ["member", "created_by"]
    date_hierarchy = "occurred_at"
    search_fields = ["=member__member_number", "=reference"]
    search_help_text = _("Member number or reference.")
    # Never a select of every member, should a form ever show this field.
    raw_id_fields = ["member", "purchase", "related_entry", "created_by"]
    show_full_result_count = False
    fields = [
        "member",
        "points",
        "kind",
        "state",
        "source",
        "reason",
        "reference_link",
        "created_by",
        "purchase",
        "related_entry",
        "available_at",
        "expires_at",
        "occurred_at",
        "created_at",
    ]
    readonly_fields = fields

    @admin.display(description=_("reference"), ordering="reference")
    def reference_link(self, entry: LedgerEntry) -> str:
        """A challenge award's reference (event:version:effect, its credit's identity) links to
        the event it answered; other references are shown as they are."""
        match = AWARD_REFERENCE.fullmatch(entry.reference)
        if entry.source != EntrySource.CHALLENGE or match is None:
            return entry.reference or "-"
        url = reverse("admin:challenges_event_change", args=[match["event"]])
        title = gettext("Event %(event)s, challenge version %(version)s, effect %(effect)s") % {
            "event": match["event"],
            "version": match["version"],
            "effect": match["effect"],
        }
        return format_html('<a href="{}" title="{}">{}</a>', url, title, entry.reference)

    def changelist_view(self, request, extra_context=None):
        # The member page links here filtered to one member: say whose ledger this is.
        member_id = request.GET.get("member__id__exact", "")
        if member_id.isdigit():
            member = Member.objects.filter(pk=member_id).first()
            if member is not None:
                extra_context = {**(extra_context or {}), "subtitle": str(member)}
        return super().changelist_view(request, extra_context)


@admin.register(PointLot)
class PointLotAdmin(MemberColumnsMixin, ReadOnlyAdmin):
    list_display = [
        "entry",
        "member_link",
        "state",
        "points",
        "remaining",
        "available_at",
        "expires_at",
    ]
    list_filter = ["state"]
    list_select_related = ["member", "entry"]
    date_hierarchy = "expires_at"
    search_fields = ["=member__member_number"]
    show_full_result_count = False


# --- Coupon templates ----------------------------------------------------------------------

BENEFIT_FIELDS = ["kind", "amount_off", "percent_off", "free_item_sku"]


class CouponTemplateForm(forms.ModelForm):
    """The model's check constraints, as messages a marketer can act on."""

    class Meta:
        model = CouponTemplate
        fields = [
            "code",
            "name",
            "description",
            "is_active",
            *BENEFIT_FIELDS,
            "valid_from",
            "valid_until",
            "valid_days",
            "stores",
            "total_stock",
            "per_member_limit",
        ]

    def _value(self, name):
        if name in self.fields:
            return self.cleaned_data.get(name)
        return getattr(self.instance, name)

    def clean(self):
        cleaned = super().clean()
        kind = self._value("kind")
        amount, percent, sku = (
            self._value("amount_off"),
            self._value("percent_off"),
            self._value("free_item_sku"),
        )
        errors: dict[str, str] = {}
        kinds = CouponTemplate.Kind
        if kind == kinds.AMOUNT_OFF and not amount:
            errors["amount_off"] = _("Enter the amount taken off.")
        if kind == kinds.PERCENT_OFF and not (percent and 1 <= percent <= 100):
            errors["percent_off"] = _("Enter a percentage from 1 to 100.")
        if kind == kinds.FREE_ITEM and not sku:
            errors["free_item_sku"] = _("Enter the SKU of the free item.")
        if kind != kinds.AMOUNT_OFF and amount is not None:
            errors["amount_off"] = _("Leave empty unless the coupon takes a fixed amount off.")
        if kind != kinds.PERCENT_OFF and percent is not None:
            errors["percent_off"] = _("Leave empty unless the coupon takes a percentage off.")
        valid_from, valid_until, valid_days = (
            cleaned.get("valid_from"),
            cleaned.get("valid_until"),
            cleaned.get("valid_days"),
        )
        if (valid_until is None) == (valid_days is None):
            errors["valid_days"] = _(
                "Set either a fixed end of validity or a number of days after issue (one of "
                "the two)."
            )
        elif valid_days == 0:
            errors["valid_days"] = _("Enter at least one day.")
        if valid_from and valid_until and valid_from >= valid_until:
            errors["valid_until"] = _("The end of validity must be after its start.")
        stock = cleaned.get("total_stock")
        if stock is not None and stock < self.instance.issued_count:
            errors["total_stock"] = _(
                "%(issued)d coupons were already issued; the stock cannot be lower."
            ) % {"issued": self.instance.issued_count}
        for field, message in errors.items():
            if field in self.fields:
                self.add_error(field, message)
            else:
                raise ValidationError(message)
        return cleaned


@admin.register(CouponTemplate)
class CouponTemplateAdmin(admin.ModelAdmin):
    form = CouponTemplateForm
    list_display = [
        "code",
        "name",
        "kind",
        "benefit",
        "validity",
        "stock",
        "per_member_limit",
        "is_active",
    ]
    list_filter = ["is_active", "kind"]
    search_fields = ["code", "name"]
    filter_horizontal = ["stores"]
    fieldsets = [
        (None, {"fields": ["code", "name", "description", "is_active"]}),
        (_("Benefit"), {"fields": BENEFIT_FIELDS}),
        (_("Validity"), {"fields": ["valid_from", "valid_until", "valid_days", "stores"]}),
        (_("Limits"), {"fields": ["total_stock", "per_member_limit", "issued_count"]}),
    ]

    def get_readonly_fields(self, request, obj=None):
        # Issued coupons carry the template's benefit: changing it would change what members
        # already hold. A new benefit is a new template.
        if obj is not None and obj.issued_count:
            return ["issued_count", "code", *BENEFIT_FIELDS]
        return ["issued_count"]

    def has_delete_permission(self, request, obj=None):
        if obj is not None and obj.coupons.exists():
            return False
        return super().has_delete_permission(request, obj)

    @admin.display(description=_("benefit"))
    def benefit(self, template):
        if template.kind == CouponTemplate.Kind.AMOUNT_OFF:
            return gettext("%(amount)s yen off") % {"amount": template.amount_off}
        if template.kind == CouponTemplate.Kind.PERCENT_OFF:
            return gettext("%(percent)s%% off") % {"percent": template.percent_off}
        return gettext("free %(sku)s") % {"sku": template.free_item_sku}

    @admin.display(description=_("validity"))
    def validity(self, template):
        if template.valid_days is not None:
            return ngettext(
                "%(days)d day after issue", "%(days)d days after issue", template.valid_days
            ) % {"days": template.valid_days}
        local = formats.date_format(timezone.localtime(template.valid_until), "DATETIME_FORMAT")
        return gettext("until %(date)s") % {"date": local}

    @admin.display(description=_("issued / stock"))
    def stock(self, template):
        total = template.total_stock if template.total_stock is not None else "∞"
        return f"{template.issued_count} / {total}"


# --- Coupons -------------------------------------------------------------------------------


class VoidCouponForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=255)


class RedeemCouponForm(forms.Form):
    store = forms.ModelChoiceField(label=_("Store"), queryset=Store.objects.none())
    order_reference = forms.CharField(
        label=_("Order reference"),
        max_length=64,
        help_text=_("The receipt or order number this coupon is used for."),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["store"].queryset = Store.objects.filter(is_active=True)


@admin.register(Coupon)
class CouponAdmin(MemberColumnsMixin, admin.ModelAdmin):
    list_display = [
        "code_display",
        "member_link",
        "template",
        "status",
        "issued_at",
        "valid_until",
        "issued_via",
        "used_at",
    ]
    list_filter = ["status", "template", "issued_via"]
    list_select_related = ["member", "template"]
    date_hierarchy = "issued_at"
    search_fields = ["=code", "=member__member_number"]
    search_help_text = _("Coupon code (as printed) or member number.")
    show_full_result_count = False
    fields = [
        "code_display",
        "member",
        "template",
        "status",
        "issued_at",
        "valid_until",
        "issued_via",
        "issued_by",
        "used_at",
        "used_store",
        "order_reference",
        "voided_at",
        "voided_by",
        "void_reason",
    ]
    readonly_fields = fields
    actions = ["void_selected"]
    change_form_template = "admin/loyalty/coupon/change_form.html"

    def get_search_results(self, request, queryset, search_term):
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        code = coupon_code_normalize(search_term)
        if code:
            results = results | queryset.filter(code=code)
        return results, may_have_duplicates

    @admin.display(description=_("code"), ordering="code")
    def code_display(self, coupon):
        return coupon_code_display(coupon.code)

    # -- permissions: issuing happens on the member page; every state change is a service call

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        # No field is edited through the generic form: a used coupon is final, and issued
        # ones change only by the void and redeem pages below.
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_void_permission(self, request, obj=None):
        return request.user.has_perm("loyalty.void_coupon")

    def has_redeem_permission(self, request, obj=None):
        return request.user.has_perm("loyalty.redeem_coupon")

    def change_view(self, request, object_id, form_url="", extra_context=None):
        coupon = self.get_object(request, unquote(object_id))
        extra_context = {
            **(extra_context or {}),
            "can_void": self.has_void_permission(request),
            "can_redeem": self.has_redeem_permission(request),
        }
        if coupon is not None:
            # Codes are read out and typed at a till: show them grouped, as printed.
            extra_context["subtitle"] = coupon_code_display(coupon.code)
        return super().change_view(request, object_id, form_url, extra_context)

    # -- custom views

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("<path:object_id>/void/", wrap(self.void_view), name="loyalty_coupon_void"),
            path("<path:object_id>/redeem/", wrap(self.redeem_view), name="loyalty_coupon_redeem"),
            *super().get_urls(),
        ]

    def _change_url(self, coupon):
        return reverse("admin:loyalty_coupon_change", args=[coupon.pk])

    def _summary(self, coupon):
        return [
            (_("code"), coupon_code_display(coupon.code)),
            (_("coupon"), coupon.template),
            (_("member"), coupon.member),
            (_("status"), coupon.get_status_display()),
            (_("valid until"), coupon.valid_until),
        ]

    def _coupon_or_redirect(self, request, object_id):
        coupon = self.get_object(request, unquote(object_id))
        if coupon is None:
            return None, self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        return coupon, None

    def void_view(self, request, object_id):
        require_perm(request, "loyalty.void_coupon")
        coupon, redirect = self._coupon_or_redirect(request, object_id)
        if redirect:
            return redirect
        form = VoidCouponForm(request.POST if request.method == "POST" else None)
        if form.is_valid():
            try:
                coupon, voided_now = coupon_void(
                    coupon=coupon, reason=form.cleaned_data["reason"], voided_by=request.user
                )
            except LoyaltyError as exc:
                add_service_error(form, exc)
            else:
                if not voided_now:
                    self.message_user(
                        request,
                        _("Coupon %(code)s was already voided.")
                        % {"code": coupon_code_display(coupon.code)},
                        messages.WARNING,
                    )
                    return HttpResponseRedirect(self._change_url(coupon))
                self.log_change(request, coupon, gettext("Voided: %(reason)s") % form.cleaned_data)
                self.message_user(
                    request,
                    _("Coupon %(code)s was voided.") % {"code": coupon_code_display(coupon.code)},
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(self._change_url(coupon))
        return render_service_form(
            request,
            self,
            title=gettext("Void coupon"),
            form=form,
            original=coupon,
            original_label=coupon_code_display(coupon.code),
            summary=self._summary(coupon),
            submit_label=gettext("Void coupon"),
            cancel_url=self._change_url(coupon),
        )

    def redeem_view(self, request, object_id):
        require_perm(request, "loyalty.redeem_coupon")
        coupon, redirect = self._coupon_or_redirect(request, object_id)
        if redirect:
            return redirect
        if request.method == "POST":
            form = RedeemCouponForm(request.POST)
        else:
            staff = getattr(request.user, "staff_profile", None)
            form = RedeemCouponForm(initial={"store": staff.store_id if staff else None})
        if form.is_valid():
            try:
                coupon, used_now = coupon_redeem(
                    code=coupon.code,
                    order_reference=form.cleaned_data["order_reference"],
                    store=form.cleaned_data["store"],
                )
            except LoyaltyError as exc:
                add_service_error(form, exc)
            else:
                if used_now:
                    self.log_change(
                        request,
                        coupon,
                        gettext("Used for order %(order)s at %(store)s.")
                        % {"order": coupon.order_reference, "store": coupon.used_store},
                    )
                    message = _("Coupon %(code)s used for order %(order)s.")
                else:
                    message = _("Coupon %(code)s was already used for order %(order)s.")
                self.message_user(
                    request,
                    message
                    % {"code": coupon_code_display(coupon.code), "order": coupon.order_reference},
                    messages.SUCCESS if used_now else messages.INFO,
                )
                return HttpResponseRedirect(self._change_url(coupon))
        return render_service_form(
            request,
            self,
            title=gettext("Redeem coupon at the counter"),
            form=form,
            original=coupon,
            original_label=coupon_code_display(coupon.code),
            summary=self._summary(coupon),
            submit_label=gettext("Mark as used"),
            cancel_url=self._change_url(coupon),
        )

    @admin.action(description=_("Void the selected coupons"), permissions=["void"])
    def void_selected(self, request, queryset):
        if too_many_selected(self, request, queryset.count()):
            return None
        form = VoidCouponForm(request.POST if "post" in request.POST else None)
        if form.is_valid():
            voided, refused = 0, []
            for coupon in queryset.filter(~Q(status=Coupon.Status.VOIDED)):
                try:
                    coupon_void(
                        coupon=coupon, reason=form.cleaned_data["reason"], voided_by=request.user
                    )
                except LoyaltyError as exc:
                    refused.append(f"{coupon_code_display(coupon.code)}: {exc.message}")
                else:
                    self.log_change(
                        request, coupon, gettext("Voided: %(reason)s") % form.cleaned_data
                    )
                    voided += 1
            self.message_user(
                request,
                ngettext("%(count)d coupon voided.", "%(count)d coupons voided.", voided)
                % {"count": voided},
                messages.SUCCESS if voided else messages.WARNING,
            )
            if refused:
                self.message_user(
                    request,
                    gettext("Not voided: %(reasons)s") % {"reasons": "; ".join(refused)},
                    messages.WARNING,
                )
            return None
        return render_service_form(
            request,
            self,
            title=gettext("Void the selected coupons"),
            form=form,
            selected=list(queryset.select_related("member", "template")),
            action="void_selected",
            submit_label=gettext("Void coupons"),
            cancel_url=reverse("admin:loyalty_coupon_changelist"),
        )


# --- Purchases -----------------------------------------------------------------------------


class PurchasePartInline(ReadOnlyInline):
    """Lines and returns are part of the purchase: whoever may view it sees them."""

    def has_view_permission(self, request, obj=None):
        return request.user.has_perm("loyalty.view_purchase")


class PurchaseLineInline(PurchasePartInline, admin.TabularInline):
    model = PurchaseLine
    fields = ["sku", "category", "quantity", "unit_price"]
    readonly_fields = fields


class PurchaseReturnInline(PurchasePartInline, admin.TabularInline):
    model = PurchaseReturn
    fields = ["return_reference", "amount", "occurred_at", "created_at"]
    readonly_fields = fields


@admin.register(Purchase)
class PurchaseAdmin(MemberColumnsMixin, ReadOnlyAdmin):
    list_display = [
        "order_reference",
        "member_link",
        "store",
        "channel",
        "occurred_at",
        "total",
        "returned_total",
    ]
    list_filter = ["channel", "store"]
    list_select_related = ["member", "store"]
    date_hierarchy = "occurred_at"
    search_fields = ["=order_reference", "=member__member_number"]
    search_help_text = _("Order reference or member number.")
    show_full_result_count = False
    fields = [
        "order_reference",
        "member",
        "store",
        "staff",
        "channel",
        "occurred_at",
        "total",
        "returned_total",
        "created_at",
    ]
    readonly_fields = fields
    inlines = [PurchaseLineInline, PurchaseReturnInline]
