import pytest
from django.contrib.auth import get_user_model

from members.member_tokens import member_token_login, member_tokens_revoke
from members.models import MemberToken
from members.passwords import (
    LoginExists,
    WeakPassword,
    WrongPassword,
    member_login_create,
    member_password_change,
)
from members.services import member_register, member_withdraw
from tests.members.factories import MemberFactory, UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "kumo-no-ue-2026"


def test_login_create_links_a_user_named_after_the_member():
    member = MemberFactory(name="Yamada Hanako", email="hanako@example.com")
    user = member_login_create(member=member, password=PASSWORD)
    member.refresh_from_db()
    assert member.user_id == user.pk
    assert (user.username, user.email, user.last_name, user.first_name) == (
        member.member_number,
        "hanako@example.com",
        "Yamada",
        "Hanako",
    )
    assert (user.is_staff, user.check_password(PASSWORD)) == (False, True)


def test_login_create_refuses_a_second_login_or_a_taken_name():
    member = MemberFactory()
    member_login_create(member=member, password=PASSWORD)
    with pytest.raises(LoginExists) as taken:
        member_login_create(member=member, password=PASSWORD, username="someone-else")
    assert (taken.value.status, taken.value.field) == (409, "password")
    UserFactory(username="shop-floor")
    with pytest.raises(LoginExists):
        member_login_create(member=MemberFactory(), password=PASSWORD, username="shop-floor")
    assert get_user_model().objects.count() == 2


def test_register_with_a_weak_password_rolls_back_the_member():
    with pytest.raises(WeakPassword) as weak:
        member_register(name="Hanako", password="short")
    assert (weak.value.field, weak.value.messages) == (
        "password",
        ["This password is too short. It must contain at least 8 characters."],
    )
    assert MemberFactory._meta.model.objects.count() == 0


def test_password_change_revokes_every_other_token():
    member = member_register(name="Hanako", password=PASSWORD)
    keep, _raw = member_token_login(login=member.member_number, password=PASSWORD)
    member_token_login(login=member.member_number, password=PASSWORD)
    member_token_login(login=member.member_number, password=PASSWORD)

    revoked = member_password_change(
        member=member, current_password=PASSWORD, new_password="sora-iro-2027", keep_token=keep
    )

    assert revoked == 2
    live = MemberToken.objects.filter(member=member, revoked_at__isnull=True)
    assert list(live.values_list("pk", flat=True)) == [keep.pk]
    assert member_tokens_revoke(member=member) == 1


def test_password_change_checks_the_current_password_and_the_rules():
    member = member_register(name="Hanako", password=PASSWORD)
    with pytest.raises(WrongPassword) as wrong:
        member_password_change(member=member, current_password="nope", new_password="x-y-z-1-2-3")
    with pytest.raises(WeakPassword) as weak:
        member_password_change(member=member, current_password=PASSWORD, new_password="12345678")
    assert (wrong.value.field, weak.value.field) == ("current_password", "new_password")
    member.user.refresh_from_db()
    assert member.user.check_password(PASSWORD)


def test_a_withdrawn_member_cannot_change_the_password():
    member = member_register(name="Hanako", password=PASSWORD)
    member_withdraw(member=member)
    with pytest.raises(WrongPassword):
        member_password_change(
            member=member, current_password=PASSWORD, new_password="sora-iro-2027"
        )
