from django.contrib.postgres.operations import RemoveIndexConcurrently
from django.db import migrations


class Migration(migrations.Migration):
    # No query reads the company's trigram index any more: duplicate suggestions take a company alike as
    # evidence for a record found by its email, phone or name, never as a candidate by itself (colleagues
    # are not duplicates). One GIN index fewer on every lead write; a 1M-row import builds one fewer.
    # DROP INDEX CONCURRENTLY neither waits behind nor blocks the table's readers (atomic = False); it is
    # IF EXISTS, so a re-run after a failure finishes the job.
    atomic = False

    dependencies = [
        ("leads", "0012_prefix_indexes_search"),
    ]

    operations = [
        RemoveIndexConcurrently(model_name="lead", name="lead_company_trgm"),
    ]
