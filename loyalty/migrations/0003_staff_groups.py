"""The two staff groups and exactly what each may do (tests/loyalty/test_groups.py pins it)."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

GROUPS = {
    "Store staff": [
        "members.view_member",
        "members.add_member",
        "members.change_member",
        "members.view_store",
        "members.view_staff",
        "members.view_tier",
        "members.view_tierchange",
        "loyalty.view_ledgerentry",
        "loyalty.adjust_points",
        "loyalty.view_purchase",
        "loyalty.view_coupontemplate",
        "loyalty.view_coupon",
        "loyalty.issue_coupon",
        "loyalty.redeem_coupon",
        "loyalty.void_coupon",
    ],
    "Marketers": [
        "members.view_member",
        "members.view_store",
        "members.view_tier",
        "loyalty.view_purchase",
        "loyalty.view_coupon",
        "loyalty.view_coupontemplate",
        "loyalty.add_coupontemplate",
        "loyalty.change_coupontemplate",
    ],
}


def forwards(apps, schema_editor):
    # Permissions are normally created after migrate; create them now so groups can use them.
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
    apps.get_model("auth", "Group").objects.filter(name__in=GROUPS).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("loyalty", "0002_ledger_append_only"),
        ("members", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]
    operations = [migrations.RunPython(forwards, backwards)]
