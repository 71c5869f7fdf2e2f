"""Writes for challenges: create, revise (a new immutable version), change status."""

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from loyalty.errors import LoyaltyError

from .definitions import DefinitionSerializer, version_fields
from .models import Challenge, ChallengeCounter, ChallengeVersion

# Which status changes a marketer may make; "scheduled" and "ended" also follow the period
# (challenges_update_statuses, every minute).
TRANSITIONS = {
    Challenge.Status.DRAFT: {Challenge.Status.SCHEDULED, Challenge.Status.ACTIVE},
    Challenge.Status.SCHEDULED: {Challenge.Status.DRAFT, Challenge.Status.ACTIVE},
    Challenge.Status.ACTIVE: {Challenge.Status.PAUSED, Challenge.Status.ENDED},
    Challenge.Status.PAUSED: {Challenge.Status.ACTIVE, Challenge.Status.ENDED},
    Challenge.Status.ENDED: set(),
}


class StatusChangeRefused(LoyaltyError):
    code = "status_change_refused"
    status = 409


def definition_validate(definition: dict) -> dict:
    """Check a definition; raises rest_framework ValidationError naming each bad field."""
    serializer = DefinitionSerializer(data=definition)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


@transaction.atomic
def challenge_create(
    *,
    code: str,
    definition: dict,
    status: str = Challenge.Status.DRAFT,
    preset: str = "",
    created_by: AbstractBaseUser | None = None,
) -> Challenge:
    data = definition_validate(definition)
    challenge = Challenge.objects.create(code=code, status=Challenge.Status.DRAFT, preset=preset)
    ChallengeCounter.objects.create(challenge=challenge)
    _new_version(challenge, data, created_by=created_by)
    if status != Challenge.Status.DRAFT:
        challenge_set_status(challenge=challenge, status=status)
    return challenge


@transaction.atomic
def challenge_revise(
    *, challenge: Challenge, definition: dict, created_by: AbstractBaseUser | None = None
) -> ChallengeVersion:
    """Edit a challenge: the definition becomes its next version; earlier versions (and what
    they produced) stay as they were."""
    data = definition_validate(definition)
    challenge = Challenge.objects.select_for_update().get(pk=challenge.pk)
    if challenge.status == Challenge.Status.ENDED:
        raise StatusChangeRefused(_("An ended challenge can't be changed."))
    return _new_version(challenge, data, created_by=created_by)


def _new_version(challenge: Challenge, data: dict, *, created_by) -> ChallengeVersion:
    last = challenge.versions.order_by("-number").values_list("number", flat=True).first() or 0
    version = ChallengeVersion.objects.create(
        challenge=challenge, number=last + 1, created_by=created_by, **version_fields(data)
    )
    challenge.current_version = version
    challenge.save(update_fields=["current_version"])
    return version


@transaction.atomic
def challenge_set_status(*, challenge: Challenge, status: str) -> Challenge:
    challenge = Challenge.objects.select_for_update().get(pk=challenge.pk)
    if status == challenge.status:
        return challenge
    if status not in TRANSITIONS[challenge.status]:
        raise StatusChangeRefused(
            _("A challenge that is %(old)s can't become %(new)s.")
            % {"old": challenge.status, "new": status}
        )
    if status == Challenge.Status.ACTIVE:
        version = challenge.current_version
        now = timezone.now()
        if version.ends_at is not None and version.ends_at <= now:
            raise StatusChangeRefused(_("The challenge period is over."))
        if version.starts_at > now:
            status = Challenge.Status.SCHEDULED
    challenge.status = status
    challenge.save(update_fields=["status"])
    return challenge


def challenges_update_statuses(*, now=None) -> int:
    """Scheduled challenges whose start has come become active; active or paused ones whose
    period is over end. Safe to run any number of times."""
    now = now or timezone.now()
    started = Challenge.objects.filter(
        status=Challenge.Status.SCHEDULED, current_version__starts_at__lte=now
    ).update(status=Challenge.Status.ACTIVE)
    ended = Challenge.objects.filter(
        status__in=[Challenge.Status.SCHEDULED, Challenge.Status.ACTIVE, Challenge.Status.PAUSED],
        current_version__ends_at__lte=now,
    ).update(status=Challenge.Status.ENDED)
    return started + ended
