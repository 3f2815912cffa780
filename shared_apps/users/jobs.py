from shared_apps.organizations.jobs import tenant_job
from shared_apps.users.services import tokens_purge_expired


@tenant_job
def purge_expired_tokens() -> int:
    """Periodic, fanned out over every active organization by the scheduler."""
    return tokens_purge_expired()
