"""Rate changes through the API are in the audit log, as those made on the settings page."""

from django.core.files.uploadedfile import SimpleUploadedFile
from django_tenants.utils import schema_context

from shared_apps.audit.models import AuditEvent
from shared_apps.users.models import Role

URL = "/api/settings/exchange-rates/"


def test_rate_changes_through_the_api_are_audited(org, api):
    client = api(Role.ADMIN)
    made = client.post(URL, {"currency": "JPY", "rate": "0.0067", "valid_from": "2026-01-01"}, format="json")
    assert made.status_code == 201
    csv = SimpleUploadedFile("r.csv", b"currency,rate,valid_from\nEUR,1.08,2026-01-01\n", "text/csv")
    assert client.post(f"{URL}import/", {"file": csv}, format="multipart").status_code == 200
    assert client.delete(f"{URL}{made.json()['id']}/").status_code == 204
    with schema_context(org.schema_name):
        events = list(
            AuditEvent.objects.filter(action__startswith="exchange_rate.")
            .order_by("id")
            .values_list("action", "via", "target_id", "changes")
        )
    rate_id = str(made.json()["id"])
    assert events == [
        (
            "exchange_rate.created",
            "api",
            rate_id,
            {"currency": "JPY", "rate": "0.0067", "valid_from": "2026-01-01"},
        ),
        ("exchange_rate.imported", "api", "", {"imported": 1, "file_name": "r.csv"}),
        ("exchange_rate.deleted", "api", rate_id, {}),
    ]
