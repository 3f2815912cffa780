"""The vocabulary kept by the database: every insert (statement-level, over its transition table: one
set-based statement per import batch) and every change of a name or company (row-level, only when one
changed) adds the record's new words. Words are never removed: a word of a deleted record only makes the
correction step propose a word that finds nothing.

The searched columns of each record type are the triggers' arguments (SOURCES below); text custom fields
join the vocabulary by adding their column or expression there (and to the search vector)."""

from django.db import migrations

# table: the columns whose words a misspelling is corrected to (the record's fuzzy fields in search)
SOURCES = {
    "leads_lead": ("name", "company"),
    "contacts_contact": ("name",),
    "accounts_account": ("name",),
    "opportunities_opportunity": ("name",),
}
# one definition of a word: accent-folded, lower case, letters and digits, three characters or more, not
# only digits (the same as tenant_apps.search.selectors.vocabulary_words)
WORDS = (
    "regexp_split_to_table(lower(public.lp_unaccent(concat_ws(' ', {columns}))), '[^a-z0-9]+') AS w"
)
KEEP = "length(w) >= 3 AND w !~ '^[0-9]+$'"

# the same expression in the triggers (format()'s %s: the columns, or ($1).column of the changed row)
STATEMENT = (
    "'INSERT INTO search_searchword (word) SELECT DISTINCT w FROM ' || %s || "
    "'regexp_split_to_table(lower(public.lp_unaccent(concat_ws('' '', ' || columns || '))), "
    "''[^a-z0-9]+'') AS w WHERE length(w) >= 3 AND w !~ ''^[0-9]+$'' ORDER BY w ON CONFLICT DO NOTHING'"
)
FUNCTIONS = f"""
CREATE FUNCTION search_words_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    columns text;
BEGIN
    SELECT string_agg(quote_ident(c), ', ') INTO columns FROM unnest(TG_ARGV) AS c;
    EXECUTE {STATEMENT % "'new_rows, '"};
    RETURN NULL;
END;
$$;
CREATE FUNCTION search_words_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    columns text;
BEGIN
    SELECT string_agg('($1).' || quote_ident(c), ', ') INTO columns FROM unnest(TG_ARGV) AS c;
    EXECUTE {STATEMENT % "''"} USING NEW;
    RETURN NULL;
END;
$$;
"""


def _forward() -> str:
    sql = [FUNCTIONS]
    for table, columns in SOURCES.items():
        args = ", ".join(f"'{column}'" for column in columns)
        changed = " OR ".join(f"OLD.{column} IS DISTINCT FROM NEW.{column}" for column in columns)
        sql.append(
            f"CREATE TRIGGER search_words_inserted AFTER INSERT ON {table} REFERENCING NEW TABLE AS new_rows "
            f"FOR EACH STATEMENT EXECUTE FUNCTION search_words_inserted({args});\n"
            f"CREATE TRIGGER search_words_changed AFTER UPDATE OF {', '.join(columns)} ON {table} "
            f"FOR EACH ROW WHEN ({changed}) EXECUTE FUNCTION search_words_changed({args});\n"
            f"INSERT INTO search_searchword (word) SELECT DISTINCT w FROM {table}, "
            f"{WORDS.format(columns=', '.join(columns))} WHERE {KEEP} ON CONFLICT DO NOTHING;"
        )
    return "\n".join(sql)


def _backward() -> str:
    sql = [
        f"DROP TRIGGER IF EXISTS search_words_inserted ON {table};\n"
        f"DROP TRIGGER IF EXISTS search_words_changed ON {table};"
        for table in SOURCES
    ]
    sql.append("DROP FUNCTION IF EXISTS search_words_inserted();\nDROP FUNCTION IF EXISTS search_words_changed();")
    return "\n".join(sql)


class Migration(migrations.Migration):
    dependencies = [
        ("search", "0001_search_vocabulary"),
        ("leads", "0006_alter_lead_merged_into"),
        ("contacts", "0003_alter_contact_merged_into"),
        ("accounts", "0003_alter_account_merged_into"),
        ("opportunities", "0003_alter_opportunity_merged_into"),
    ]

    operations = [migrations.RunSQL(_forward(), _backward())]
