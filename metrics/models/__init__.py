from .dashboard import KpiDashboard
from .kpis import KpiFillState, KpiSnapshot, KpiTarget
from .member_state import (
    MemberActiveSpan,
    MemberChannelState,
    MemberChannelTotals,
    MemberPeriodBase,
    MemberPeriodBaseTotals,
    MemberState,
    MemberStateMark,
    MemberStateTotals,
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
    "MemberChannelTotals",
    "MemberPeriodBase",
    "MemberPeriodBaseTotals",
    "MemberState",
    "MemberStateMark",
    "MemberStateTotals",
    "Question",
    "Survey",
    "SurveyResponse",
]
