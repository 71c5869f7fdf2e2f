"""Goal progress dated by business time, and survey_answered taken away from the member app.

- GoalProgress.started_at: the occurred_at of the event that first made progress (the worker
  sets it when it creates the row and never rewrites it; challenges/processing.py). Existing
  rows are backfilled, see `backfill_started_at`.
- survey_answered: members could POST it to /api/v1/me/events and claim a survey challenge's
  points without answering anything. Survey answers emit it themselves (source "surveys");
  integration keys with events:write still may.
"""

from django.db import migrations, models
from django.db.models import F


def backfill_started_at(apps, schema_editor):
    # Chosen: updated_at, the processing time of the row's last write. Before this migration
    # the worker wrote a row whenever an event advanced it and never after completion, so
    # updated_at is when the last progress (for completed rows: the completion) was
    # processed: a late bound of the start, equal to it for rows advanced once, and within
    # seconds of the event's own time for events processed as they arrive (not for history
    # loaded and processed in bulk). The events that made earlier progress cannot be told
    # apart: the engine kept no per-event record of progress short of the goal.
    # completed_at of existing rows stays what it was (the completion's processing time).
    goal_progress = apps.get_model("challenges", "GoalProgress")
    goal_progress.objects.filter(started_at__isnull=True).update(started_at=F("updated_at"))


def survey_answered_not_member_app(apps, schema_editor):
    apps.get_model("challenges", "EventType").objects.filter(code="survey_answered").update(
        member_app=False
    )


def survey_answered_member_app(apps, schema_editor):
    apps.get_model("challenges", "EventType").objects.filter(code="survey_answered").update(
        member_app=True
    )


class Migration(migrations.Migration):
    dependencies = [("challenges", "0004_scheduled_event_types")]

    operations = [
        migrations.AddField(
            model_name="goalprogress",
            name="started_at",
            field=models.DateTimeField(
                blank=True, db_index=True, null=True, verbose_name="started at"
            ),
        ),
        migrations.RunPython(backfill_started_at, migrations.RunPython.noop),
        migrations.RunPython(survey_answered_not_member_app, survey_answered_member_app),
    ]
