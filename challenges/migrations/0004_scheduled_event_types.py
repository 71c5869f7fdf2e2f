"""The scheduled event types (birthday, anniversary, win_back) created by the nightly job
(challenges/scheduled.py), and the table of days it has done, from which it catches up."""

from django.db import migrations, models

from challenges.builtin_types import SCHEDULED, event_types_ensure_builtin


def forwards(apps, schema_editor):
    event_types_ensure_builtin(apps.get_model("challenges", "EventType"), codes=SCHEDULED)


def backwards(apps, schema_editor):
    # Refused (PROTECT) once events of these types exist: they are part of the books.
    apps.get_model("challenges", "EventType").objects.filter(code__in=SCHEDULED).delete()


class Migration(migrations.Migration):
    dependencies = [("challenges", "0003_staff_group_permissions")]

    operations = [
        migrations.CreateModel(
            name="ScheduledEventsDay",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("day", models.DateField(unique=True, verbose_name="day")),
                (
                    "counts",
                    models.JSONField(blank=True, default=dict, verbose_name="events created"),
                ),
                (
                    "finished_at",
                    models.DateTimeField(blank=True, null=True, verbose_name="finished at"),
                ),
            ],
            options={
                "verbose_name": "scheduled events day",
                "verbose_name_plural": "scheduled events days",
                "ordering": ["-day"],
            },
        ),
        migrations.RunPython(forwards, backwards),
    ]
