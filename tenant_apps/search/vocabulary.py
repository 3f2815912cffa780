# ruff: noqa: S608  (SQL is built from model table and column names, quoted)
"""The vocabulary's words of records a session wrote with the insert trigger deferred (migration 0003): the
same definition of a word as the trigger's (migration 0002) and vocabulary_words."""

from __future__ import annotations

from django.db import connection

DEFERRED = "leadpulse.search_words_deferred"
# the columns whose words a misspelling is corrected to, per table (as the triggers' arguments)
SOURCES = {
    "leads_lead": ("name", "company"),
    "contacts_contact": ("name",),
    "accounts_account": ("name",),
    "opportunities_opportunity": ("name",),
}


def words_defer() -> None:
    """In the caller's transaction: inserts add no words (the caller adds them with words_add)."""
    with connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL {DEFERRED} = 'on'")


def words_add(table: str, ids: str) -> None:
    """Add the words of the rows of `table` whose ids `ids` (an SQL query of ids) selects."""
    columns = ", ".join(f'r."{column}"' for column in SOURCES[table])
    with connection.cursor() as cursor:
        cursor.execute(
            f'INSERT INTO search_searchword (word) SELECT DISTINCT w FROM "{table}" r, '
            f"regexp_split_to_table(lower(public.lp_unaccent(concat_ws(' ', {columns}))), '[^a-z0-9]+') AS w "
            f"WHERE r.id IN ({ids}) AND length(w) >= 3 AND w !~ '^[0-9]+$' ORDER BY w ON CONFLICT DO NOTHING"
        )
