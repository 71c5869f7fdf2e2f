"""The KPI dashboard's admin entry (a proxy of KpiSnapshot) and who may use it and the targets
(tests/loyalty/test_groups.py and tests/metrics/test_dashboard.py pin it).

Marketers open the dashboard for every store and segment and set KPI targets. Store managers,
a new group (the staff groups had no notion of a manager), open the dashboard and read the
targets; a store manager whose staff profile names a store sees only that store's numbers
(no `view_all_stores`). A manager who also works the counter is in "Store staff" too.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

STORE_MANAGERS = "Store managers"
GROUPS = {
    "Marketers": [
        "metrics.view_kpidashboard",
        "metrics.view_all_stores",
        "metrics.view_kpitarget",
        "metrics.add_kpitarget",
        "metrics.change_kpitarget",
        "metrics.delete_kpitarget",
    ],
    STORE_MANAGERS: [
        "metrics.view_kpidashboard",
        "metrics.view_kpitarget",
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
    Group.objects.filter(name=STORE_MANAGERS).delete()
    marketers = Group.objects.filter(name="Marketers").first()
    if marketers is not None:
        for perm in GROUPS["Marketers"]:
            app_label, codename = perm.split(".")
            marketers.permissions.remove(
                *Permission.objects.filter(content_type__app_label=app_label, codename=codename)
            )


class Migration(migrations.Migration):
    dependencies = [
        ("metrics", "0002_survey_permissions"),
    ]
    operations = [
        migrations.CreateModel(
            name="KpiDashboard",
            fields=[],
            options={
                "verbose_name": "KPI dashboard",
                "verbose_name_plural": "KPI dashboard",
                "permissions": [("view_all_stores", "Can see the KPIs of every store and segment")],
                "proxy": True,
                "default_permissions": ("view",),
                "indexes": [],
                "constraints": [],
            },
            bases=("metrics.kpisnapshot",),
        ),
        migrations.RunPython(forwards, backwards),
    ]
