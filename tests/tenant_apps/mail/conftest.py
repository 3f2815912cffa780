from tests.tenant_apps.mail.inbound import receiver  # noqa: F401 (fixture)
from tests.tenant_apps.sequences.conftest import make_sequence  # noqa: F401 (fixture)
from tests.tenant_apps.sequences.smtp import _smtp_server, smtp  # noqa: F401 (fixtures)
