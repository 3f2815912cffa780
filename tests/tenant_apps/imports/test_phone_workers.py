"""Issue 21: past its first slice of rows, an import's phone numbers are normalized in worker processes; the
outcome is the same as in the job's own process (the same rule as the lead services), row for row."""

import multiprocessing
from typing import Any

import pytest
from django_tenants.utils import schema_context

from tenant_apps.imports.models import ImportRowError
from tenant_apps.imports.pipeline import load
from tenant_apps.records import normalize
from tests.tenant_apps.imports.conftest import leads

PHONES = [
    "+44 20 7946 0958",
    "(555) 010.9999",
    "555-0100/22",
    "0049 30 123456",
    "call me",
    "12345",
    "'+1 555 0100 33",
    "",
    "+1 555 +0100",
    "555 010 7777",
]
FILE = "name,email,phone,tags\n" + "".join(
    f'Person {i},person{i}@example.com,"{phone}",t{i % 3}\n' for i, phone in enumerate(PHONES)
)


@pytest.mark.parametrize("workers", [0, 2])
def test_phones_normalized_by_worker_processes_match_the_services(
    imported, org, settings, monkeypatch, workers
):
    settings.IMPORT_PHONE_WORKERS = workers
    monkeypatch.setattr(load, "PHONE_SLICE", 3)  # 4 slices: 3 of them in the workers when there are some
    pools: list[str] = []
    get_context = multiprocessing.get_context

    def spy(method: str) -> Any:
        pools.append(method)
        return get_context(method)

    monkeypatch.setattr(load.multiprocessing, "get_context", spy)
    done = imported(FILE)
    assert pools == (["fork"] if workers else [])
    assert (done.imported, done.failed) == (7, 3)
    by_email = {lead["email"]: lead for lead in leads(org)}
    for i, phone in enumerate(PHONES):
        lead = by_email.get(f"person{i}@example.com")
        if phone in ("call me", "12345", "+1 555 +0100"):
            assert lead is None
            continue
        expected = normalize.phone_or_blank(phone.removeprefix("'"), normalize.phone_region())
        assert lead is not None and lead["phone_normalized"] == expected, (phone, lead)
        assert lead["tags"] == [f"t{i % 3}"]
    with schema_context(org.schema_name):
        codes = sorted(
            ImportRowError.objects.filter(import_run=done, warning=False).values_list("code", flat=True)
        )
    assert codes == ["invalid_phone"] * 3
