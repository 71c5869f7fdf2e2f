from .dashboard import KpiDashboard
from .kpis import KpiFillState, KpiSnapshot, KpiTarget
from .surveys import Answer, Question, Survey, SurveyResponse

__all__ = [
    "Answer",
    "KpiDashboard",
    "KpiFillState",
    "KpiSnapshot",
    "KpiTarget",
    "Question",
    "Survey",
    "SurveyResponse",
]
