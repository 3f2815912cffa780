from tests.tenant_apps.accounts.factories import make_account, make_contact, make_opportunity

__all__ = ["make_account", "make_contact", "make_opportunity"]
