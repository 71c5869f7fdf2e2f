"""Store staff see a member's home store history, as they see the tier history
(tests/loyalty/test_groups.py pins the groups' permissions)."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

GROUP, APP, CODENAME = "Store staff", "members", "view_homestorechange"


def forwards(apps, schema_editor):
    app_config = apps.get_app_config(APP)
    app_config.models_module = True
    create_permissions(app_config, verbosity=0)
    app_config.models_module = None
    group, _ = apps.get_model("auth", "Group").objects.get_or_create(name=GROUP)
    group.permissions.add(
        apps.get_model("auth", "Permission").objects.get(
            content_type__app_label=APP, codename=CODENAME
        )
    )


def backwards(apps, schema_editor):
    Permission = apps.get_model("auth", "Permission")
    for group in apps.get_model("auth", "Group").objects.filter(name=GROUP):
        group.permissions.remove(
            *Permission.objects.filter(content_type__app_label=APP, codename=CODENAME)
        )


class Migration(migrations.Migration):
    dependencies = [
        ("members", "0005_home_store_changes"),
        ("loyalty", "0003_staff_groups"),
    ]
    operations = [migrations.RunPython(forwards, backwards)]
