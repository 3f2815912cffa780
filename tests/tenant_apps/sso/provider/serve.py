"""Start the test provider: migrate its PostgreSQL database, create its accounts and its one client, serve on
127.0.0.1:<OIDC_PROVIDER_PORT> (threads) until killed.

Environment: OIDC_PROVIDER_DATABASE (JSON: HOST, PORT, USER, PASSWORD, NAME), OIDC_PROVIDER_KEY (PEM),
OIDC_PROVIDER_ISSUER, OIDC_PROVIDER_PORT, OIDC_PROVIDER_REDIRECT_URIS (space-separated),
OIDC_PROVIDER_ACCOUNTS (JSON list of usernames: an email, optionally after "<behaviour>+"),
OIDC_PROVIDER_PASSWORD,
OIDC_PROVIDER_CLIENT_ID, OIDC_PROVIDER_CLIENT_SECRET."""

import json
import os

os.environ["DJANGO_SETTINGS_MODULE"] = "tests.tenant_apps.sso.provider.settings"

import django

django.setup()

from django.contrib.auth.models import User  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.core.servers.basehttp import run  # noqa: E402
from django.core.wsgi import get_wsgi_application  # noqa: E402
from oauth2_provider.models import Application  # noqa: E402


def main() -> None:
    call_command("migrate", run_syncdb=True, verbosity=0)
    for email in json.loads(os.environ["OIDC_PROVIDER_ACCOUNTS"]):
        User.objects.create_user(
            email, email.split("+")[-1], os.environ["OIDC_PROVIDER_PASSWORD"], first_name=email.split("@")[0]
        )
    Application.objects.create(
        name="LeadPulse",
        client_id=os.environ["OIDC_PROVIDER_CLIENT_ID"],
        client_secret=os.environ["OIDC_PROVIDER_CLIENT_SECRET"],
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        algorithm=Application.RS256_ALGORITHM,
        redirect_uris=os.environ["OIDC_PROVIDER_REDIRECT_URIS"],
        skip_authorization=False,
    )
    run("127.0.0.1", int(os.environ["OIDC_PROVIDER_PORT"]), get_wsgi_application(), threading=True)


if __name__ == "__main__":
    main()
