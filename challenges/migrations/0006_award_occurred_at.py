"""Award.occurred_at: the business time of the award's event, copied onto the award so the
challenge KPIs read a period's awards from their own covering index (`award_occurred`)
rather than joining every event. Existing awards take their event's time."""

from django.db import migrations, models
from django.db.models import OuterRef, Subquery


def copy_event_times(apps, schema_editor):
    award = apps.get_model("challenges", "Award")
    event = apps.get_model("challenges", "Event")
    award.objects.filter(occurred_at__isnull=True).update(
        occurred_at=Subquery(event.objects.filter(pk=OuterRef("event_id")).values("occurred_at"))
    )


class Migration(migrations.Migration):
    dependencies = [
        ("challenges", "0005_goal_progress_started_at_survey_answered_not_app"),
    ]

    operations = [
        migrations.AddField(
            model_name="award",
            name="occurred_at",
            field=models.DateTimeField(null=True, verbose_name="occurred at"),
        ),
        migrations.RunPython(copy_event_times, migrations.RunPython.noop, elidable=False),
        migrations.AlterField(
            model_name="award",
            name="occurred_at",
            field=models.DateTimeField(verbose_name="occurred at"),
        ),
        migrations.AddIndex(
            model_name="award",
            index=models.Index(
                fields=["occurred_at"],
                include=["member", "version", "kind", "points", "event"],
                name="award_occurred",
            ),
        ),
    ]
