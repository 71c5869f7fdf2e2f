"""MemberState.birth_date: LTV's trailing-year churn slices its base by the members'
dimensions a year ago from their state rows (the age band from the birth date), not from
the members table (docs/metrics.md, "Member state"). The rows are derived from the books:
the state's mark is cleared, so the next update rebuilds them with the column filled."""

from django.db import migrations, models


def _forget_the_state(apps, schema_editor):
    # Without a mark the next update is a rebuild (metrics.member_state).
    apps.get_model("metrics", "MemberStateMark").objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [
        ("metrics", "0010_member_state_natural_keys"),
    ]

    operations = [
        migrations.RunPython(_forget_the_state, migrations.RunPython.noop),
        migrations.AddField(
            model_name="memberstate",
            name="birth_date",
            field=models.DateField(null=True),
        ),
    ]
