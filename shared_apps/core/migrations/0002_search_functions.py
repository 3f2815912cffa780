"""Immutable text folding for search, so it can be used in generated columns and expression indexes.

`lp_unaccent(text)` strips accents where the server has the unaccent extension (Debian's PostgreSQL does)
and is the identity elsewhere (the embedded server has no unaccent): search is accent-insensitive
"where the database offers it". unaccent() itself is only STABLE (its dictionary could change), hence the
wrapper with the dictionary named explicitly, a common and documented pattern.
"""

from django.db import migrations

FORWARD = """
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'unaccent') THEN
        EXECUTE $f$
            CREATE OR REPLACE FUNCTION public.lp_unaccent(text) RETURNS text
            LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
            AS 'SELECT public.unaccent(''public.unaccent''::regdictionary, $1)'
        $f$;
    ELSE
        EXECUTE $f$
            CREATE OR REPLACE FUNCTION public.lp_unaccent(text) RETURNS text
            LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
            AS 'SELECT $1'
        $f$;
    END IF;
END $$;
"""


class Migration(migrations.Migration):
    dependencies = [("core", "0001_extensions")]

    operations = [migrations.RunSQL(FORWARD, "DROP FUNCTION IF EXISTS public.lp_unaccent(text)")]
