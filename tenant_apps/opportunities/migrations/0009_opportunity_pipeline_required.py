import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("opportunities", "0008_default_sales_pipeline")]

    operations = [
        migrations.AlterField(
            model_name="opportunity",
            name="pipeline",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.PROTECT,
                related_name="opportunities",
                to="opportunities.pipeline",
            ),
        ),
        migrations.AlterField(
            model_name="opportunity",
            name="pipeline_stage",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="opportunities",
                to="opportunities.pipelinestage",
            ),
        ),
    ]
