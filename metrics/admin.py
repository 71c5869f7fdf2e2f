"""The metrics admin: surveys (admin_surveys.py) and the KPI pages."""

from . import (
    admin_dashboard,  # noqa: F401 - registers the KPI dashboard (KpiDashboard)
    admin_surveys,  # noqa: F401 - registers Survey and SurveyResponse
    admin_targets,  # noqa: F401 - registers KpiTarget
)
