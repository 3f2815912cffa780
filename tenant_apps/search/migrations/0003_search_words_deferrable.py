"""A session may defer the vocabulary (issue 21): with `leadpulse.search_words_deferred` set to `on` (SET
LOCAL, in its transaction) the insert trigger adds nothing, and the session adds the words of what it wrote
itself, once, set-based (tenant_apps.search.vocabulary.words_add). A bulk import's writers do: two
transactions adding the same new word wait for each other's commit (ON CONFLICT DO NOTHING), which ordered
commits would turn into a wait no one can end."""

from django.db import migrations

STATEMENT = (
    "'INSERT INTO search_searchword (word) SELECT DISTINCT w FROM new_rows, "
    "regexp_split_to_table(lower(public.lp_unaccent(concat_ws('' '', ' || columns || '))), "
    "''[^a-z0-9]+'') AS w WHERE length(w) >= 3 AND w !~ ''^[0-9]+$'' ORDER BY w ON CONFLICT DO NOTHING'"
)
BODY = """
CREATE OR REPLACE FUNCTION search_words_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    columns text;
BEGIN
    {skip}
    SELECT string_agg(quote_ident(c), ', ') INTO columns FROM unnest(TG_ARGV) AS c;
    EXECUTE {statement};
    RETURN NULL;
END;
$$;
"""
SKIP = "IF current_setting('leadpulse.search_words_deferred', true) = 'on' THEN RETURN NULL; END IF;"


class Migration(migrations.Migration):
    dependencies = [("search", "0002_search_vocabulary_triggers")]

    operations = [
        migrations.RunSQL(
            BODY.format(skip=SKIP, statement=STATEMENT), BODY.format(skip="", statement=STATEMENT)
        )
    ]
