"""Member-app tokens: `mt_<prefix>_<secret>`, stored as a SHA-256, expiring, revocable."""

import datetime as dt
import hashlib
import hmac
import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils import timezone
from django.utils.translation import gettext as _

from loyalty.errors import LoyaltyError

from .contact import normalize_email
from .models import Member, MemberToken


class LoginFailed(LoyaltyError):
    code = "login_failed"
    status = 401

    def default_message(self):
        return _("Unknown member or wrong password.")


def _digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def member_token_login(*, login: str, password: str) -> tuple[MemberToken, str]:
    """Log in with a member number or e-mail and the app password; returns (token, raw)."""
    login = login.strip()
    lookup = {"member_number": login} if login.isdigit() else {"email": normalize_email(login)}
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
    prefix = secrets.token_hex(4)
    raw = f"mt_{prefix}_{secrets.token_urlsafe(32)}"
    token = MemberToken.objects.create(
        member=member,
        prefix=prefix,
        hashed_key=_digest(raw),
        expires_at=timezone.now() + dt.timedelta(hours=settings.LOYALTY_MEMBER_TOKEN_HOURS),
    )
    return token, raw


def member_token_verify(raw: str) -> MemberToken | None:
    parts = raw.split("_")
    if len(parts) < 3 or parts[0] != "mt":
        return None
    token = MemberToken.objects.select_related("member").filter(prefix=parts[1]).first()
    if (
        token is None
        or token.revoked_at is not None
        or token.expires_at <= timezone.now()
        or token.member.status != Member.Status.ACTIVE
        or not hmac.compare_digest(token.hashed_key, _digest(raw))
    ):
        return None
    return token


def member_token_revoke(*, token: MemberToken) -> None:
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
