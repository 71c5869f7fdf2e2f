"""The staff admin for members: find a member from any identifier, see their points and
history, and act on them through confirmation pages that call the services."""

import uuid

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.forms.models import BaseInlineFormSet
from django.http import HttpResponseRedirect
from django.urls import path, reverse
from django.utils import formats, timezone
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from loyalty.admin_base import (
    ReadOnlyAdmin,
    ReadOnlyInline,
    add_service_error,
    render_service_form,
    require_perm,
    too_many_selected,
)
from loyalty.coupons import coupon_code_display, coupon_issue
from loyalty.errors import LoyaltyError
from loyalty.ledger import points_adjust
from loyalty.models import Coupon, CouponTemplate, LedgerEntry
from loyalty.models.ledger import EntrySource
from loyalty.selectors import member_balance

from .api_keys import SCOPES, api_key_create, api_key_revoke
from .contact import normalize_email, normalize_phone
from .models import ApiKey, HomeStoreChange, Member, Staff, Store, Tier, TierChange, Visit
from .numbers import member_number_as_written
from .services import (
    member_home_store_change,
    member_register,
    member_update_contact,
    member_withdraw,
)

# How many ledger entries the member page shows; the rest are one link away.
LEDGER_INLINE_LIMIT = 20
CONTACT_FIELDS = ("name", "email", "phone")


@admin.register(Store)
class StoreAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "prefecture", "city", "is_active"]
    list_filter = ["is_active", "prefecture"]
    search_fields = ["code", "name", "city"]


@admin.register(Staff)
class StaffAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "store", "user", "is_active"]
    list_filter = ["is_active", "store"]
    list_select_related = ["store", "user"]
    search_fields = ["code", "name"]
    autocomplete_fields = ["store"]
    raw_id_fields = ["user"]


@admin.register(Tier)
class TierAdmin(admin.ModelAdmin):
    list_display = ["rank", "code", "name", "threshold_spend", "earn_multiplier"]
    ordering = ["rank"]


@admin.register(TierChange)
class TierChangeAdmin(ReadOnlyAdmin):
    list_display = ["changed_at", "member", "from_tier", "to_tier", "window_spend"]
    list_filter = ["to_tier", "from_tier"]
    list_select_related = ["member", "from_tier", "to_tier"]
    date_hierarchy = "changed_at"
    search_fields = ["=member__member_number"]
    show_full_result_count = False


@admin.register(HomeStoreChange)
class HomeStoreChangeAdmin(ReadOnlyAdmin):
    list_display = ["changed_at", "member", "from_store", "to_store"]
    list_filter = ["to_store", "from_store"]
    list_select_related = ["member", "from_store", "to_store"]
    date_hierarchy = "changed_at"
    search_fields = ["=member__member_number"]
    show_full_result_count = False


@admin.register(Visit)
class VisitAdmin(ReadOnlyAdmin):
    list_display = ["visited_at", "member", "store"]
    list_filter = ["store"]
    list_select_related = ["member", "store"]
    date_hierarchy = "visited_at"
    search_fields = ["=member__member_number"]
    show_full_result_count = False


def _issued_message(coupon: Coupon) -> str:
    return gettext("Issued coupon %(code)s (%(template)s).") % {
        "code": coupon_code_display(coupon.code),
        "template": coupon.template,
    }


# --- Member page inlines -------------------------------------------------------------------


class LatestLedgerFormSet(BaseInlineFormSet):
    """Only the newest entries; a member with years of history would make the page crawl."""

    def get_queryset(self):
        if not hasattr(self, "_latest"):
            self._latest = super().get_queryset()[:LEDGER_INLINE_LIMIT]
        return self._latest

    def see_all(self) -> dict:
        total = LedgerEntry.objects.filter(member=self.instance).count()
        url = reverse("admin:loyalty_ledgerentry_changelist")
        return {
            "total": total,
            "shown": min(total, LEDGER_INLINE_LIMIT),
            "url": f"{url}?member__id__exact={self.instance.pk}",
        }


class LedgerEntryInline(ReadOnlyInline, admin.TabularInline):
    model = LedgerEntry
    formset = LatestLedgerFormSet
    fk_name = "member"
    verbose_name_plural = _("latest ledger entries")
    template = "admin/members/member/ledger_inline.html"
    fields = [
        "occurred_at",
        "kind",
        "state",
        "points",
        "source",
        "reason",
        "reference",
        "created_by",
        "expires_at",
    ]
    readonly_fields = fields
    ordering = ["-occurred_at", "-id"]
    show_change_link = True

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("created_by")


class CouponInline(ReadOnlyInline, admin.TabularInline):
    model = Coupon
    fk_name = "member"
    fields = [
        "code_display",
        "template",
        "status",
        "issued_at",
        "valid_until",
        "used_at",
        "order_reference",
    ]
    readonly_fields = fields
    ordering = ["-issued_at", "-id"]
    show_change_link = True

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("template")

    @admin.display(description=_("code"))
    def code_display(self, coupon):
        return coupon_code_display(coupon.code)


class HomeStoreChangeInline(ReadOnlyInline, admin.TabularInline):
    model = HomeStoreChange
    fk_name = "member"
    verbose_name_plural = _("home store history")
    fields = ["changed_at", "from_store", "to_store"]
    readonly_fields = fields
    ordering = ["-changed_at", "-id"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("from_store", "to_store")


class TierChangeInline(ReadOnlyInline, admin.TabularInline):
    model = TierChange
    fk_name = "member"
    verbose_name_plural = _("tier history")
    fields = ["changed_at", "from_tier", "to_tier", "window_spend"]
    readonly_fields = fields
    ordering = ["-changed_at", "-id"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("from_tier", "to_tier")


# --- Forms ---------------------------------------------------------------------------------


class MemberForm(forms.ModelForm):
    """Contact details are normalised here so that uniqueness is checked on what is stored
    (a phone typed as 090-1234-5678 collides with +819012345678)."""

    class Meta:
        model = Member
        fields = ["name", "email", "phone", "birth_date", "gender", "home_store"]

    def clean_email(self):
        return normalize_email(self.cleaned_data.get("email"))

    def clean_phone(self):
        return normalize_phone(self.cleaned_data.get("phone"))


class AdjustPointsForm(forms.Form):
    points = forms.IntegerField(
        label=_("Points"),
        min_value=-(10**12),
        max_value=10**12,
        widget=forms.NumberInput(attrs={"autofocus": True}),
        help_text=_("Positive adds points, negative takes available points away."),
    )
    reason = forms.CharField(
        label=_("Reason"),
        max_length=255,
        help_text=_("Recorded in the ledger and shown to anyone who reads it."),
    )
    # One token per page load: a double-click or a resent form adjusts only once.
    token = forms.UUIDField(widget=forms.HiddenInput)

    def clean_points(self):
        points = self.cleaned_data["points"]
        if points == 0:
            raise ValidationError(_("Enter a number of points other than zero."), code="zero")
        return points


class IssueCouponForm(forms.Form):
    template = forms.ModelChoiceField(
        label=_("Coupon"),
        queryset=CouponTemplate.objects.none(),
        empty_label=None,
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["template"].queryset = CouponTemplate.objects.filter(is_active=True).filter(
            Q(valid_until__isnull=True) | Q(valid_until__gt=timezone.now())
        )


class ConfirmForm(forms.Form):
    """A confirmation without inputs (withdrawal)."""


# --- Member --------------------------------------------------------------------------------


@admin.register(Member)
class MemberAdmin(admin.ModelAdmin):
    form = MemberForm
    list_display = [
        "member_number",
        "name",
        "tier",
        "status",
        "points_available",
        "home_store",
        "joined_at",
    ]
    list_display_links = ["member_number", "name"]
    list_filter = ["status", "tier", "home_store", "gender"]
    list_select_related = ["tier", "home_store"]
    date_hierarchy = "joined_at"
    # Member number by prefix, e-mail and name by fragment; get_search_results adds the exact
    # matches a counter needs (card number with spaces, phone in national format).
    search_fields = ["^member_number", "email", "name"]
    search_help_text = _("Member number, phone (any format), e-mail or name.")
    autocomplete_fields = ["home_store"]
    show_full_result_count = False
    inlines = [LedgerEntryInline, CouponInline, TierChangeInline, HomeStoreChangeInline]
    actions = ["issue_coupon_to_selected", "withdraw_selected"]
    change_form_template = "admin/members/member/change_form.html"

    add_fieldsets = [
        (None, {"fields": ["name", "email", "phone"]}),
        (_("Profile"), {"fields": ["birth_date", "gender", "home_store"]}),
    ]
    fieldsets = [
        (None, {"fields": ["member_number", "name", "email", "phone"]}),
        (
            _("Points"),
            {
                "fields": [
                    "points_available",
                    "points_pending",
                    "points_debt",
                    "points_lifetime",
                    "points_expiring_soon",
                ]
            },
        ),
        (_("Profile"), {"fields": ["birth_date", "gender", "home_store"]}),
        (_("Membership"), {"fields": ["status", "tier", "joined_at", "withdrawn_at", "user"]}),
    ]
    # Status changes go through services (withdrawal), tiers through the nightly recalculation.
    readonly_fields = [
        "member_number",
        "points_available",
        "points_pending",
        "points_debt",
        "points_lifetime",
        "points_expiring_soon",
        "status",
        "tier",
        "joined_at",
        "withdrawn_at",
        "user",
    ]

    # -- search

    def get_search_results(self, request, queryset, search_term):
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        term = search_term.strip()
        if not term:
            return results, may_have_duplicates
        exact = Q()
        number = member_number_as_written(term)
        if number:
            exact |= Q(member_number=number)
        try:
            phone = normalize_phone(term)
        except ValidationError:
            phone = None
        if phone:
            exact |= Q(phone=phone)
        if exact:
            results = results | queryset.filter(exact)
        return results, may_have_duplicates

    # -- permissions

    def has_delete_permission(self, request, obj=None):
        return False  # members leave by withdrawal; their ledger stays

    def has_change_permission(self, request, obj=None):
        if obj is not None and obj.status == Member.Status.WITHDRAWN:
            return False
        return super().has_change_permission(request, obj)

    def has_adjust_points_permission(self, request, obj=None):
        return request.user.has_perm("loyalty.adjust_points")

    def has_issue_coupon_permission(self, request, obj=None):
        return request.user.has_perm("loyalty.issue_coupon")

    def has_withdraw_permission(self, request, obj=None):
        return request.user.has_perm("members.withdraw_member")

    # -- the change page

    def get_fieldsets(self, request, obj=None):
        return self.add_fieldsets if obj is None else self.fieldsets

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else []

    @admin.display(description=_("expiring soon"))
    def points_expiring_soon(self, member):
        balance = member_balance(member=member)
        return gettext("%(points)d within %(days)d days (by %(date)s)") % {
            "points": balance.expiring_soon,
            "days": settings.LOYALTY_EXPIRING_SOON_DAYS,
            "date": formats.date_format(timezone.localtime(balance.expiring_soon_until)),
        }

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "can_adjust_points": self.has_adjust_points_permission(request),
            "can_issue_coupon": self.has_issue_coupon_permission(request),
            "can_withdraw": self.has_withdraw_permission(request),
        }
        return super().change_view(request, object_id, form_url, extra_context)

    def save_model(self, request, obj, form, change):
        """Registration and contact changes go through the services (they normalise and
        check uniqueness under a lock); the remaining profile fields are plain columns."""
        data = form.cleaned_data
        if not change:
            member = member_register(
                name=data.get("name") or "",
                email=data.get("email"),
                phone=data.get("phone"),
                birth_date=data.get("birth_date"),
                gender=data.get("gender") or Member.Gender.UNSPECIFIED,
                home_store=data.get("home_store"),
            )
            # The admin goes on with `obj` (log entry, redirect): make it the registered row.
            for field in Member._meta.concrete_fields:
                setattr(obj, field.attname, getattr(member, field.attname))
            obj._state.adding = False
            obj._state.db = member._state.db
            return
        # The service treats None as "leave unchanged"; "" clears an e-mail or phone.
        contact = {f: data.get(f) or "" for f in CONTACT_FIELDS if f in form.changed_data}
        if contact:
            member_update_contact(member=obj, **contact)
        if "home_store" in form.changed_data:
            member_home_store_change(member=obj, store=data.get("home_store"))
        others = [f for f in form.changed_data if f not in (*CONTACT_FIELDS, "home_store")]
        if others:
            obj.save(update_fields=others)

    # -- custom views: each a confirmation page calling one service

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path(
                "<path:object_id>/adjust-points/",
                wrap(self.adjust_points_view),
                name="members_member_adjust_points",
            ),
            path(
                "<path:object_id>/issue-coupon/",
                wrap(self.issue_coupon_view),
                name="members_member_issue_coupon",
            ),
            path(
                "<path:object_id>/withdraw/",
                wrap(self.withdraw_view),
                name="members_member_withdraw",
            ),
            *super().get_urls(),
        ]

    def _member_or_redirect(self, request, object_id):
        member = self.get_object(request, unquote(object_id))
        if member is None:
            return None, self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        return member, None

    def _change_url(self, member):
        return reverse("admin:members_member_change", args=[member.pk])

    def _summary(self, member):
        return [
            (_("member number"), member.member_number),
            (_("name"), member.name or "-"),
            (_("status"), member.get_status_display()),
            (_("available points"), member.points_available),
            (_("pending points"), member.points_pending),
        ]

    def adjust_points_view(self, request, object_id):
        require_perm(request, "loyalty.adjust_points")
        member, redirect = self._member_or_redirect(request, object_id)
        if redirect:
            return redirect
        if request.method == "POST":
            form = AdjustPointsForm(request.POST)
            if form.is_valid():
                reference = f"admin-{form.cleaned_data['token'].hex}"
                try:
                    _entry, created = points_adjust(
                        member=member,
                        points=form.cleaned_data["points"],
                        reason=form.cleaned_data["reason"],
                        source=EntrySource.STAFF,
                        created_by=request.user,
                        reference=reference,
                    )
                    done = not created
                except LoyaltyError as exc:
                    add_service_error(form, exc)
                else:
                    if done:
                        self.message_user(
                            request, _("This adjustment was already recorded."), messages.WARNING
                        )
                    else:
                        self.log_change(
                            request,
                            member,
                            gettext("Adjusted points by %(points)+d: %(reason)s")
                            % form.cleaned_data,
                        )
                        self.message_user(
                            request,
                            _("%(points)+d points recorded for %(member)s.")
                            % {"points": form.cleaned_data["points"], "member": member},
                            messages.SUCCESS,
                        )
                    return HttpResponseRedirect(self._change_url(member))
        else:
            form = AdjustPointsForm(initial={"token": uuid.uuid4()})
        return render_service_form(
            request,
            self,
            title=gettext("Adjust points"),
            form=form,
            original=member,
            summary=self._summary(member),
            submit_label=gettext("Adjust points"),
            cancel_url=self._change_url(member),
        )

    def issue_coupon_view(self, request, object_id):
        require_perm(request, "loyalty.issue_coupon")
        member, redirect = self._member_or_redirect(request, object_id)
        if redirect:
            return redirect
        form = IssueCouponForm(request.POST if request.method == "POST" else None)
        if form.is_valid():
            try:
                coupon = coupon_issue(
                    template=form.cleaned_data["template"],
                    member=member,
                    issued_via=Coupon.IssuedVia.STAFF,
                    issued_by=request.user,
                )
            except LoyaltyError as exc:
                add_service_error(form, exc)
            else:
                self.log_change(request, member, _issued_message(coupon))
                self.message_user(
                    request,
                    _("Coupon %(code)s (%(template)s) issued to %(member)s.")
                    % {
                        "code": coupon_code_display(coupon.code),
                        "template": coupon.template,
                        "member": member,
                    },
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(self._change_url(member))
        return render_service_form(
            request,
            self,
            title=gettext("Issue a coupon"),
            form=form,
            original=member,
            summary=self._summary(member),
            submit_label=gettext("Issue coupon"),
            cancel_url=self._change_url(member),
        )

    def withdraw_view(self, request, object_id):
        require_perm(request, "members.withdraw_member")
        member, redirect = self._member_or_redirect(request, object_id)
        if redirect:
            return redirect
        if request.method == "POST":
            member_withdraw(member=member)
            self.log_change(request, member, gettext("Withdrawn."))
            self.message_user(
                request,
                _("Member %(number)s was withdrawn.") % {"number": member.member_number},
                messages.SUCCESS,
            )
            return HttpResponseRedirect(self._change_url(member))
        return render_service_form(
            request,
            self,
            title=gettext("Withdraw member"),
            form=ConfirmForm(),
            original=member,
            summary=self._summary(member),
            intro=gettext(
                "Withdrawal erases the member's name, e-mail, phone, birth date and gender and "
                "disables their app login. The member number, ledger and purchases stay. "
                "This cannot be undone."
            ),
            submit_label=gettext("Yes, withdraw"),
            cancel_url=self._change_url(member),
        )

    # -- changelist actions

    @admin.action(
        description=_("Issue a coupon to the selected members"), permissions=["issue_coupon"]
    )
    def issue_coupon_to_selected(self, request, queryset):
        if too_many_selected(self, request, queryset.count()):
            return None
        form = IssueCouponForm(request.POST if "post" in request.POST else None)
        if form.is_valid():
            template = form.cleaned_data["template"]
            issued, refused = 0, []
            for member in queryset:
                try:
                    coupon = coupon_issue(
                        template=template,
                        member=member,
                        issued_via=Coupon.IssuedVia.STAFF,
                        issued_by=request.user,
                    )
                except LoyaltyError as exc:
                    refused.append(f"{member.member_number}: {exc.message}")
                else:
                    self.log_change(request, member, _issued_message(coupon))
                    issued += 1
            self.message_user(
                request,
                ngettext("%(count)d coupon issued.", "%(count)d coupons issued.", issued)
                % {"count": issued},
                messages.SUCCESS if issued else messages.WARNING,
            )
            if refused:
                self.message_user(
                    request,
                    ngettext(
                        "Not issued to %(count)d member: %(reasons)s",
                        "Not issued to %(count)d members: %(reasons)s",
                        len(refused),
                    )
                    % {"count": len(refused), "reasons": "; ".join(refused)},
                    messages.WARNING,
                )
            return None
        return render_service_form(
            request,
            self,
            title=gettext("Issue a coupon to the selected members"),
            form=form,
            selected=list(queryset),
            action="issue_coupon_to_selected",
            submit_label=gettext("Issue coupons"),
            cancel_url=reverse("admin:members_member_changelist"),
        )

    @admin.action(description=_("Withdraw the selected members"), permissions=["withdraw"])
    def withdraw_selected(self, request, queryset):
        if too_many_selected(self, request, queryset.count()):
            return None
        if "post" in request.POST:
            count = 0
            for member in queryset.exclude(status=Member.Status.WITHDRAWN):
                member_withdraw(member=member)
                self.log_change(request, member, gettext("Withdrawn."))
                count += 1
            self.message_user(
                request,
                ngettext("%(count)d member withdrawn.", "%(count)d members withdrawn.", count)
                % {"count": count},
                messages.SUCCESS,
            )
            return None
        return render_service_form(
            request,
            self,
            title=gettext("Withdraw the selected members"),
            form=ConfirmForm(),
            selected=list(queryset),
            action="withdraw_selected",
            intro=gettext(
                "Withdrawal erases each member's name, e-mail, phone, birth date and gender and "
                "disables their app login. Member numbers, ledgers and purchases stay. "
                "This cannot be undone."
            ),
            submit_label=gettext("Yes, withdraw"),
            cancel_url=reverse("admin:members_member_changelist"),
        )


class ApiKeyForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(
        label=_("scopes"),
        choices=sorted(SCOPES.items()),
        widget=forms.CheckboxSelectMultiple,
    )

    class Meta:
        model = ApiKey
        fields = ["name", "scopes", "store"]


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """Keys are created here (the raw key is shown once, in the success message) and revoked;
    never edited: a changed scope is a new key."""

    form = ApiKeyForm
    list_display = ["name", "prefix", "scopes", "store", "created_at", "revoked_at"]
    list_filter = ["store", ("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "=prefix"]
    actions = ["revoke"]

    def has_change_permission(self, request, obj=None):
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        key, raw = api_key_create(
            name=form.cleaned_data["name"],
            scopes=form.cleaned_data["scopes"],
            store=form.cleaned_data["store"],
        )
        obj.pk = key.pk
        obj.prefix, obj.hashed_key, obj.created_at = key.prefix, key.hashed_key, key.created_at
        self.message_user(
            request,
            _("Copy this key now; it is not shown again: %(key)s") % {"key": raw},
            messages.WARNING,
        )

    @admin.action(description=_("Revoke the selected API keys"), permissions=["revoke"])
    def revoke(self, request, queryset):
        for key in queryset:
            api_key_revoke(key=key)
        self.message_user(request, _("Revoked."), messages.SUCCESS)

    def has_revoke_permission(self, request):
        return request.user.has_perm("members.change_apikey")
