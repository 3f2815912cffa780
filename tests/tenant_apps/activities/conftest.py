from tests.tenant_apps.accounts.factories import make_account

__all__ = ["make_account"]
