from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    # The board reads each stage's latest moved live leads: (stage, stage_changed_at, id) over live rows makes
    # a column's first cards an index range scan at any table size (without it, 1M leads are sorted per
    # view). CREATE INDEX CONCURRENTLY does not block writes and cannot run in a transaction (atomic = False).
    # A failed build leaves an INVALID index that a re-run does not repair: drop it and re-run.
    atomic = False

    dependencies = [
        ("leads", "0010_search_vector_custom_values"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="lead",
            index=models.Index(
                condition=models.Q(("deleted_at__isnull", True), ("merged_into__isnull", True)),
                fields=["stage", "stage_changed_at", "id"],
                name="lead_board_column_idx",
            ),
        ),
    ]
