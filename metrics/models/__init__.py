from .dashboard import KpiDashboard
from .kpis import KpiFillState, KpiSnapshot, KpiTarget
from .member_state import (
    MemberActiveSpan,
    MemberChannelState,
    MemberPeriodBase,
    MemberState,
    MemberStateMark,
)
from .surveys import Answer, Question, Survey, SurveyResponse

__all__ = [
    "Answer",
    "KpiDashboard",
    "KpiFillState",
    "KpiSnapshot",
    "KpiTarget",
    "MemberActiveSpan",
    "MemberChannelState",
    "MemberPeriodBase",
    "MemberState",
    "MemberStateMark",
    "Question",
    "Survey",
    "SurveyResponse",
]
