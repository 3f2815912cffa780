"""The rollup and histogram keys carry their sums (INCLUDE): reports read them with index-only scans
instead of visiting thousands of scattered heap pages.

As in 0002, the old unique constraints are found on their tables rather than by name: organizations cloned
from the template have generated names for them.
"""

from django.db import migrations, models

SWAP = """
DO $$
DECLARE
    old_name text;
BEGIN
    FOR old_name IN
        SELECT conname FROM pg_constraint WHERE conrelid = '{table}'::regclass AND contype = 'u'
    LOOP
        EXECUTE format('ALTER TABLE {table} DROP CONSTRAINT %I', old_name);
    END LOOP;
END $$;
ALTER TABLE {table} ADD CONSTRAINT {name} UNIQUE ({fields}) INCLUDE ({include});
"""
RESTORE = """
ALTER TABLE {table} DROP CONSTRAINT {name};
ALTER TABLE {table} ADD CONSTRAINT {old_name} UNIQUE ({fields});
"""

ROLLUP = {
    "table": "analytics_transitionrollup",
    "name": "analytics_rollup_covering_key",
    "old_name": "analytics_rollup_period_key",
    "fields": "grain, period, dimension, key, from_stage, to_stage",
    "include": "count, seconds, cycle_seconds",
}
HISTOGRAM = {
    "table": "analytics_durationhistogram",
    "name": "analytics_histogram_covering_key",
    "old_name": "analytics_histogram_key",
    "fields": "grain, metric, period, key, bucket",
    "include": "count",
}


class Migration(migrations.Migration):
    dependencies = [
        ("analytics", "0002_rollup_period_first"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveConstraint(model_name="transitionrollup", name="analytics_rollup_period_key"),
                migrations.AddConstraint(
                    model_name="transitionrollup",
                    constraint=models.UniqueConstraint(
                        fields=("grain", "period", "dimension", "key", "from_stage", "to_stage"),
                        include=("count", "seconds", "cycle_seconds"),
                        name="analytics_rollup_covering_key",
                    ),
                ),
                migrations.RemoveConstraint(model_name="durationhistogram", name="analytics_histogram_key"),
                migrations.AddConstraint(
                    model_name="durationhistogram",
                    constraint=models.UniqueConstraint(
                        fields=("grain", "metric", "period", "key", "bucket"),
                        include=("count",),
                        name="analytics_histogram_covering_key",
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(SWAP.format(**ROLLUP), RESTORE.format(**ROLLUP)),
                migrations.RunSQL(SWAP.format(**HISTOGRAM), RESTORE.format(**HISTOGRAM)),
            ],
        ),
    ]
