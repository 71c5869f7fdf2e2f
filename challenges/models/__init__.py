from .events import Event, EventType, WeatherObservation
from .rules import Challenge, ChallengeCounter, ChallengeVersion
from .scheduled import ScheduledEventsDay
from .state import Award, GoalProgress, LimitCounter, Verification

__all__ = [
    "Award",
    "Challenge",
    "ChallengeCounter",
    "ChallengeVersion",
    "Event",
    "EventType",
    "GoalProgress",
    "LimitCounter",
    "ScheduledEventsDay",
    "Verification",
    "WeatherObservation",
]
