"""Rollup key with the period before the dimension (every report reads a period range); an index on wins.

The old unique constraint is dropped by looking it up on its table, not by name: organizations cloned
from the template (django-tenants' clone_schema) get generated names for their unique constraints
("analytics_transitionrollup_grain_dimension_period_key_from__key"), so a DROP CONSTRAINT by the model's
name fails in every cloned organization.
"""

from django.db import migrations, models

SWAP_KEY = """
DO $$
DECLARE
    old_name text;
BEGIN
    FOR old_name IN
        SELECT conname FROM pg_constraint
        WHERE conrelid = 'analytics_transitionrollup'::regclass AND contype = 'u'
    LOOP
        EXECUTE format('ALTER TABLE analytics_transitionrollup DROP CONSTRAINT %I', old_name);
    END LOOP;
END $$;
ALTER TABLE analytics_transitionrollup ADD CONSTRAINT analytics_rollup_period_key
    UNIQUE (grain, period, dimension, key, from_stage, to_stage);
"""

RESTORE_KEY = """
ALTER TABLE analytics_transitionrollup DROP CONSTRAINT analytics_rollup_period_key;
ALTER TABLE analytics_transitionrollup ADD CONSTRAINT analytics_rollup_key
    UNIQUE (grain, dimension, period, key, from_stage, to_stage);
"""


class Migration(migrations.Migration):
    dependencies = [
        ("analytics", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveConstraint(model_name="transitionrollup", name="analytics_rollup_key"),
                migrations.AddConstraint(
                    model_name="transitionrollup",
                    constraint=models.UniqueConstraint(
                        fields=("grain", "period", "dimension", "key", "from_stage", "to_stage"),
                        name="analytics_rollup_period_key",
                    ),
                ),
            ],
            database_operations=[migrations.RunSQL(SWAP_KEY, RESTORE_KEY)],
        ),
        migrations.AddIndex(
            model_name="stagetransition",
            index=models.Index(
                condition=models.Q(("counted", True), ("to_stage", "WON")),
                fields=["at"],
                name="analytics_fact_won_idx",
            ),
        ),
    ]
