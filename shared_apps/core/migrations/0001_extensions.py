"""Extensions the customer model relies on, installed once per database in the public schema (on every
organization's search_path): pg_trgm for fuzzy matching; unaccent when the server ships it."""

from django.db import migrations

FORWARD = """
CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public;
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'unaccent') THEN
        CREATE EXTENSION IF NOT EXISTS unaccent WITH SCHEMA public;
    END IF;
END $$;
"""


class Migration(migrations.Migration):
    initial = True
    dependencies: list = []

    operations = [migrations.RunSQL(FORWARD, migrations.RunSQL.noop)]
