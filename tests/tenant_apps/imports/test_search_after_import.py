"""Issue 21: what an import writes is searchable when it ends (full text, prefix and misspelled), with the
GIN indexes' pending lists merged."""

import pytest
from django.db import connection
from django_tenants.utils import schema_context

from shared_apps.users.models import Role

ROWS = "name,email,company\nMarguerite Fontainebleau,marguerite@example.com,Quillfeather Mills\n"


def found(client, query):
    response = client.get("/api/search/", {"q": query, "types": "lead"})
    assert response.status_code == 200, response.content
    return [row["title"] for row in response.json()["results"]]


@pytest.mark.parametrize("pending_kb", [0, 65536])
def test_imported_leads_are_searchable_at_once(imported, org, api, settings, pending_kb):
    settings.IMPORT_GIN_PENDING_LIST_KB = pending_kb
    run = imported(ROWS)
    assert run.imported == 1
    client = api(Role.ADMIN)
    for query in (
        "fontainebleau",
        "fontaine",
        "quill",
        "Fontainbleau",
        "Quilfeather",
        "marguerite@example.com",
    ):
        assert found(client, query) == ["Marguerite Fontainebleau"], query


def test_an_import_leaves_no_pending_gin_entries(imported, org, settings):
    settings.IMPORT_GIN_PENDING_LIST_KB = 65536
    with connection.cursor() as cursor:
        cursor.execute("CREATE EXTENSION IF NOT EXISTS pgstattuple SCHEMA public")
    rows = "name,company\n" + "".join(
        f"Person{index} Surname{index},Company {index}\n" for index in range(300)
    )
    assert imported(rows).imported == 300
    with schema_context(org.schema_name), connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, (public.pgstatginindex(c.oid)).pending_tuples FROM pg_index i "
            "JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam "
            "WHERE i.indrelid = 'leads_lead'::regclass AND a.amname = 'gin'"
        )
        pending = dict(cursor.fetchall())
    assert pending and not any(pending.values()), pending
