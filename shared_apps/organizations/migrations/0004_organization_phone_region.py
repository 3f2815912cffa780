from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("organizations", "0003_organization_placement")]

    operations = [
        migrations.AddField(
            model_name="organization",
            name="phone_region",
            field=models.CharField(default="US", max_length=2),
        ),
    ]
