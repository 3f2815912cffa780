# ruff: noqa: S608  (SQL is built from model table and column names, quoted)
"""The vocabulary's words of records a session wrote with the insert trigger deferred (migration 0003): the
same definition of a word as the trigger's (migration 0002) and vocabulary_words."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection

DEFERRED = "leadpulse.search_words_deferred"
# the columns whose words a misspelling is corrected to, per table (as the triggers' arguments)
SOURCES = {
    "leads_lead": ("name", "company"),
    "contacts_contact": ("name",),
    "accounts_account": ("name",),
    "opportunities_opportunity": ("name",),
}


@contextmanager
def words_deferred() -> Iterator[None]:
    """Inside the caller's transaction, for the block: inserts add no words (the caller adds them with
    words_add). Set back when the block ends, also inside an enclosing transaction (a savepoint's block)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config(%s, 'on', true)", [DEFERRED])
    yield  # a block that raises leaves it to its transaction's (or savepoint's) rollback, which undoes it
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config(%s, 'off', true)", [DEFERRED])


def words_add(table: str, rows: str) -> None:
    """Add the words of the rows that the query `rows` gives, whose columns are `table`'s source columns
    (SOURCES) by name: the records the caller wrote (or is writing) with the trigger deferred."""
    columns = ", ".join(f'r."{column}"' for column in SOURCES[table])
    with connection.cursor() as cursor:
        # the distinct words by a query of their own (an INSERT's query runs in one process; this one may
        # be read by parallel workers), then added in order (a few thousand: one array)
        cursor.execute(
            f"SELECT DISTINCT w FROM ({rows}) r, "
            f"regexp_split_to_table(lower(public.lp_unaccent(concat_ws(' ', {columns}))), '[^a-z0-9]+') AS w "
            "WHERE length(w) >= 3 AND w !~ '^[0-9]+$'"
        )
        words = [word for (word,) in cursor.fetchall()]
        cursor.execute(
            "INSERT INTO search_searchword (word) SELECT w FROM unnest(%s::text[]) AS w ORDER BY w "
            "ON CONFLICT DO NOTHING",
            [words],
        )
