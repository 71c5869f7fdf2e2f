"""Member app logins: a Django user linked as `Member.user`, and its password.

Passwords go through Django's AUTH_PASSWORD_VALIDATORS (length, common, numeric, similar to
the member's name or e-mail). Changing it ends every other app session of the member.
"""

from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from loyalty.errors import LoyaltyError

from .member_tokens import member_tokens_revoke
from .models import Member, MemberToken


class WeakPassword(LoyaltyError):
    code = "weak_password"
    field = "password"


class WrongPassword(LoyaltyError):
    code = "wrong_password"
    field = "current_password"

    def default_message(self):
        return _("The current password is wrong.")


class LoginExists(LoyaltyError):
    code = "login_exists"
    status = 409
    field = "password"


def _login_for(member: Member, *, username: str) -> AbstractBaseUser:
    """An unsaved user carrying the member's name and e-mail (the validators compare them)."""
    names = member.name.split(" ", 1)
    return get_user_model()(
        username=username,
        email=member.email or "",
        last_name=names[0],
        first_name=names[1] if len(names) > 1 else "",
    )


def password_check_strength(*, password: str, user: AbstractBaseUser, field: str) -> None:
    try:
        password_validation.validate_password(password, user=user)
    except DjangoValidationError as exc:
        raise WeakPassword(messages=exc.messages, field=field) from None


@transaction.atomic
def member_login_create(
    *, member: Member, password: str, username: str | None = None
) -> AbstractBaseUser:
    """Give a member an app login with this password. The username defaults to the member
    number (members log in with their number or e-mail, never the username)."""
    user = _login_for(member, username=username or member.member_number)
    password_check_strength(password=password, user=user, field="password")
    if get_user_model().objects.filter(username=user.username).exists():
        raise LoginExists(_("The login name %(name)s is taken.") % {"name": user.username})
    user.set_password(password)
    user.save()
    # Only the login link: never save a Member instance, its balances belong to the ledger.
    if not Member.objects.filter(pk=member.pk, user__isnull=True).update(user=user):
        raise LoginExists(_("This member already has an app login."))
    member.user = user
    return user


@transaction.atomic
def member_password_change(
    *,
    member: Member,
    current_password: str,
    new_password: str,
    keep_token: MemberToken | None = None,
) -> int:
    """Change the app password after checking the current one; revoke every app token of the
    member but `keep_token` (the session asking). Returns the number of tokens revoked."""
    member = Member.objects.select_related("user").get(pk=member.pk)
    user = member.user
    if user is None or not user.is_active or not user.check_password(current_password):
        raise WrongPassword()
    if new_password == current_password:
        # Nothing would change, yet the member's other devices would be logged out.
        raise WeakPassword(
            _("Choose a password different from the current one."), field="new_password"
        )
    password_check_strength(password=new_password, user=user, field="new_password")
    user.set_password(new_password)
    user.save(update_fields=["password"])
    return member_tokens_revoke(member=member, keep=keep_token)
