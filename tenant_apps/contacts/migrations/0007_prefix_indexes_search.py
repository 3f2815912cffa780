from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models

from shared_apps.core import search


class Migration(migrations.Migration):
    # Search's type-ahead keys (tenant_apps.records.models.prefix_indexes): the records a text begins are a
    # b-tree range in key order. CREATE INDEX CONCURRENTLY does not block writes and cannot run in a
    # transaction (atomic = False). A failed build leaves an INVALID index that a re-run does not repair:
    # drop it and re-run.
    atomic = False

    dependencies = [
        ("contacts", "0006_search_vector_custom_values"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="contact",
            index=models.Index(
                search.FirstWordKey(models.F("name")),
                search.RestKey(models.F("name")),
                condition=models.Q(("deleted_at__isnull", True), ("merged_into__isnull", True)),
                name="contact_name_prefix",
            ),
        ),
        AddIndexConcurrently(
            model_name="contact",
            index=models.Index(
                search.RestKey(models.F("name")),
                condition=models.Q(("deleted_at__isnull", True), ("merged_into__isnull", True)),
                name="contact_name_rest_prefix",
            ),
        ),
    ]
