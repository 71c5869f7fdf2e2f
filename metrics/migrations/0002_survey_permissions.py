"""What the staff groups may do with surveys (tests/loyalty/test_groups.py pins it).

Marketers manage surveys and their questions and read the responses; nobody changes an answer
(responses are written only by metrics.services.survey_answer and read-only in the admin).
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

GROUPS = {
    "Marketers": [
        "metrics.view_survey",
        "metrics.add_survey",
        "metrics.change_survey",
        "metrics.delete_survey",
        "metrics.view_question",
        "metrics.add_question",
        "metrics.change_question",
        "metrics.delete_question",
        "metrics.view_surveyresponse",
        "metrics.view_answer",
    ],
}


def forwards(apps, schema_editor):
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, perms in GROUPS.items():
        group, _ = Group.objects.get_or_create(name=name)
        for perm in perms:
            app_label, codename = perm.split(".")
            group.permissions.add(
                Permission.objects.get(content_type__app_label=app_label, codename=codename)
            )


def backwards(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, perms in GROUPS.items():
        group = Group.objects.filter(name=name).first()
        if group is None:
            continue
        for perm in perms:
            app_label, codename = perm.split(".")
            group.permissions.remove(
                *Permission.objects.filter(content_type__app_label=app_label, codename=codename)
            )


class Migration(migrations.Migration):
    dependencies = [
        ("metrics", "0001_surveys_and_kpis"),
        ("challenges", "0003_staff_group_permissions"),
    ]
    operations = [migrations.RunPython(forwards, backwards)]
