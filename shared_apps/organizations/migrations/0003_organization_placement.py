from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("organizations", "0002_organization_reps_see_all_leads")]

    operations = [
        migrations.AddField(
            model_name="organization",
            name="database",
            field=models.CharField(default="default", max_length=63),
        ),
        migrations.AddField(
            model_name="organization",
            name="moving_since",
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]
