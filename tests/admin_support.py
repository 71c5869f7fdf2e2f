"""Helpers for admin tests: users in the groups the migration creates, and reading pages."""

from django.contrib.auth.models import Group
from django.contrib.messages import get_messages
from django.test import Client

from tests.members.factories import UserFactory

STORE_STAFF = "Store staff"
MARKETERS = "Marketers"


def login(*, group: str | None = None, superuser: bool = False, username: str | None = None):
    """A client logged in as a new staff user (in `group`, or a superuser). Returns both."""
    user = UserFactory(
        username=username or f"{(group or 'admin').lower().replace(' ', '-')}-user",
        is_staff=True,
        is_superuser=superuser,
    )
    if group:
        user.groups.add(Group.objects.get(name=group))
    client = Client()
    client.force_login(user)
    return client, user


def result_pks(response) -> list[int]:
    """The primary keys a changelist page lists, in order."""
    return [obj.pk for obj in response.context["cl"].result_list]


def readonly_values(response) -> dict[str, str]:
    """Read-only fields of a change page, by field name, as rendered."""
    values = {}
    for fieldset in response.context["adminform"]:
        for line in fieldset:
            for field in line:
                if field.is_readonly:
                    values[field.field["name"]] = str(field.contents())
    return values


def form_errors(response) -> dict[str, list[str]]:
    return {name: list(errors) for name, errors in response.context["form"].errors.items()}


def messages_of(response) -> list[str]:
    """The messages a view queued (works on a redirect response too)."""
    return [str(m) for m in get_messages(response.wsgi_request)]
