from tests.tenant_apps.mail.dovecot import _dovecot, dovecot  # noqa: F401 (fixtures)
from tests.tenant_apps.mail.inbound import receiver  # noqa: F401 (fixture)
from tests.tenant_apps.mail.orgsmtp import (  # noqa: F401 (fixtures)
    _certificate,
    _org_smtp_server,
    _org_smtps_server,
    org_smtp,
    org_smtps,
)
from tests.tenant_apps.sequences.conftest import make_sequence  # noqa: F401 (fixture)
from tests.tenant_apps.sequences.smtp import _smtp_server, smtp  # noqa: F401 (fixtures)
