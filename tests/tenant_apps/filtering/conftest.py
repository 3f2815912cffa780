from tests.tenant_apps.tasks.conftest import make_record  # noqa: F401  (the same record factory)
