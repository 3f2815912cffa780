from django.db import migrations, models

# The four plans every install starts with, without limits: nothing an existing organization does is
# refused until an operator sets them; the request rate falls back to THROTTLE_RATES_BY_PLAN while unset.
DEFAULTS = [("free", "Free"), ("team", "Team"), ("business", "Business"), ("enterprise", "Enterprise")]


def seed(apps, schema_editor):
    PlanDefinition = apps.get_model("organizations", "PlanDefinition")
    for slug, name in DEFAULTS:
        PlanDefinition.objects.get_or_create(slug=slug, defaults={"name": name})


class Migration(migrations.Migration):
    dependencies = [("organizations", "0007_organization_require_two_factor")]

    operations = [
        migrations.CreateModel(
            name="PlanDefinition",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("slug", models.SlugField(max_length=16, unique=True)),
                ("name", models.CharField(max_length=100)),
                ("max_members", models.PositiveIntegerField(blank=True, null=True)),
                ("max_records", models.PositiveIntegerField(blank=True, null=True)),
                ("max_storage_mb", models.PositiveIntegerField(blank=True, null=True)),
                ("api_requests_per_minute", models.PositiveIntegerField(blank=True, null=True)),
                ("imports_per_day", models.PositiveIntegerField(blank=True, null=True)),
                ("max_webhook_endpoints", models.PositiveIntegerField(blank=True, null=True)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("updated_at", models.DateTimeField(auto_now=True)),
            ],
            options={"ordering": ["slug"]},
        ),
        migrations.AlterField(
            model_name="organization",
            name="plan",
            field=models.CharField(default="free", max_length=16),
        ),
        migrations.RunPython(seed, migrations.RunPython.noop),
    ]
