from tests.tenant_apps.sequences.smtp import _smtp_server, smtp  # noqa: F401 (fixtures)
