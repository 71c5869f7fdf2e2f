"""Why answering a survey was refused: each names the field it is about (loyalty.errors)."""

from django.utils.translation import gettext_lazy as _

from loyalty.errors import LoyaltyError


class SurveyClosed(LoyaltyError):
    """Inactive, not started yet, or ended (at the time of the answer)."""

    code = "survey_closed"
    field = "survey"

    def default_message(self):
        return _("This survey is not open.")


class SurveyAlreadyAnswered(LoyaltyError):
    code = "survey_already_answered"
    status = 409
    field = "survey"

    def default_message(self):
        return _("This member has already answered this survey.")


class SurveyAnswersInvalid(LoyaltyError):
    """One or more answers are wrong; `fields` maps each offending input
    (`answers[1].score`, `answers`) to its messages, in the order of the answers."""

    code = "invalid"

    def __init__(self, fields: dict[str, list[str]]):
        self.fields = fields
        first, messages = next(iter(fields.items()))
        super().__init__(field=first, messages=messages)
