from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("customfields", "0001_custom_field_definitions"),
    ]

    operations = [
        migrations.AddField(
            model_name="customfield",
            name="on_card",
            field=models.BooleanField(default=False),
        ),
    ]
