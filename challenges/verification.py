"""Staff verification of events that can be faked (an SNS follow, an attendance).

A rule with `requires_verification` that would fire queues a Verification instead of granting.
Approving grants the rule's effects then, under the same limits and budget checks the worker
applies (members and budget rows locked); if the limit or budget has run out meanwhile, the
verification is closed as rejected with that reason. Rejecting needs a note.
"""

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from loyalty.errors import LoyaltyError

from . import evaluator
from .definitions import rule_for
from .models import Event, Verification
from .processing import Batch


class AlreadyDecided(LoyaltyError):
    code = "already_decided"
    status = 409


@transaction.atomic
def verification_decide(
    *, verification: Verification, approve: bool, note: str, user: AbstractBaseUser
) -> Verification:
    note = (note or "").strip()
    if not approve and not note:
        raise LoyaltyError(_("Say why the event is rejected."), field="note")
    verification = (
        Verification.objects.select_for_update(of=("self",))
        .select_related("version")
        .get(pk=verification.pk)
    )
    if verification.status != Verification.Status.PENDING:
        raise AlreadyDecided(_("This verification was already decided."))
    verification.decided_by = user
    verification.decided_at = timezone.now()
    verification.note = note
    verification.status = Verification.Status.REJECTED
    if approve:
        refusal = _grant(verification)
        if refusal:
            verification.note = (f"{note} ({refusal})" if note else refusal)[:255]
        else:
            verification.status = Verification.Status.APPROVED
    verification.save(update_fields=["status", "note", "decided_by", "decided_at"])
    return verification


def _grant(verification: Verification) -> str:
    """Write the effects; returns why not when a limit or the budget refuses."""
    event = Event.objects.select_related(
        "type", "store", "purchase", "purchase__staff", "purchase_return"
    ).get(pk=verification.event_id)
    rule = rule_for(verification.version)
    batch = Batch([event], now=timezone.now(), rules=[rule])
    batch.load()
    facts = batch.facts(event)
    day = facts.event.local_date
    limit_key = (event.member_id, rule.challenge_id, evaluator.period_key(rule.limit_period, day))
    if rule.limit_count is not None and batch.state.limits.get(limit_key, 0) >= rule.limit_count:
        return _("limit reached: already %(n)d time(s)") % {"n": rule.limit_count}
    grants = evaluator.effect_grants(
        rule, facts, base_points=batch.base_points.get(event.purchase_id, 0)
    )
    refusal = evaluator.budget_refusal(rule, grants, batch.state)
    if refusal:
        return refusal
    evaluator.record_grants(rule, grants, event.member_id, day, batch.state)
    batch.touched_limits.add(limit_key)
    batch.collect_grants(event, rule, grants)
    batch.write_effects()
    return ""
