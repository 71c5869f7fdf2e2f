"""Member-app tokens: `mt_<prefix>_<secret>`, stored as a SHA-256, expiring, revocable."""

import datetime as dt

from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils import timezone
from django.utils.translation import gettext as _

from loyalty.errors import LoyaltyError

from .contact import normalize_email
from .credentials import credential_matches, credential_new, credential_prefix
from .models import Member, MemberToken
from .numbers import member_number_as_written


class LoginFailed(LoyaltyError):
    code = "login_failed"
    status = 401

    def default_message(self):
        return _("Unknown member or wrong password.")


def member_token_login(*, login: str, password: str) -> tuple[MemberToken, str]:
    """Log in with a member number or e-mail and the app password; returns (token, raw)."""
    login = login.strip()
    # A member number may be typed as printed on the card, with spaces or dashes.
    number = member_number_as_written(login) or (login if login.isdigit() else None)
    lookup = {"member_number": number} if number else {"email": normalize_email(login)}
    member = Member.objects.select_related("user").filter(**lookup).first()
    if (
        member is None
        or member.status != Member.Status.ACTIVE
        or member.user is None
        or not member.user.is_active
        or not member.user.check_password(password)
    ):
        # Same work and answer whether the member exists or not: no account enumeration.
        get_user_model()().set_password(password)
        raise LoginFailed()
    credential = credential_new("mt")
    token = MemberToken.objects.create(
        member=member,
        prefix=credential.prefix,
        hashed_key=credential.digest,
        expires_at=timezone.now() + dt.timedelta(hours=settings.LOYALTY_MEMBER_TOKEN_HOURS),
    )
    return token, credential.raw


def member_token_verify(raw: str) -> MemberToken | None:
    prefix = credential_prefix(raw, "mt")
    if prefix is None:
        return None
    token = MemberToken.objects.select_related("member__user").filter(prefix=prefix).first()
    if (
        token is None
        or token.revoked_at is not None
        or token.expires_at <= timezone.now()
        or token.member.status != Member.Status.ACTIVE
        # A token lives no longer than the app login it came from (staff may disable it).
        or token.member.user is None
        or not token.member.user.is_active
        or not credential_matches(token.hashed_key, raw)
    ):
        return None
    return token


def member_token_revoke(*, token: MemberToken) -> None:
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])


def member_tokens_revoke(*, member: Member, keep: MemberToken | None = None) -> int:
    """Revoke every live token of a member except `keep`; returns how many were revoked."""
    live = MemberToken.objects.filter(member=member, revoked_at__isnull=True)
    if keep is not None:
        live = live.exclude(pk=keep.pk)
    return live.update(revoked_at=timezone.now())
