"""What the staff groups may do with challenges (tests/loyalty/test_groups.py pins it).

Marketers configure challenges and event types and look at events and weather; store staff
work the verification queue (approve or reject what they saw at the counter).
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

GROUPS = {
    "Store staff": [
        "challenges.view_verification",
        "challenges.change_verification",
        "challenges.view_event",
        "challenges.view_challenge",
    ],
    "Marketers": [
        "challenges.view_challenge",
        "challenges.add_challenge",
        "challenges.change_challenge",
        "challenges.view_challengeversion",
        "challenges.view_eventtype",
        "challenges.add_eventtype",
        "challenges.change_eventtype",
        "challenges.view_event",
        "challenges.view_verification",
        "challenges.view_weatherobservation",
        "challenges.add_weatherobservation",
        "challenges.change_weatherobservation",
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
        ("challenges", "0002_builtin_event_types_and_immutable_versions"),
        ("loyalty", "0003_staff_groups"),
    ]
    operations = [migrations.RunPython(forwards, backwards)]
