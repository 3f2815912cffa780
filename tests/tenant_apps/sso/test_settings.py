"""The admins' SSO settings (API and page), and what requiring SSO does to passwords."""

from __future__ import annotations

import contextlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import StringIO

from django.core.management import call_command
from django.test import override_settings
from django_tenants.utils import schema_context

from shared_apps.audit.models import AuditEvent
from shared_apps.users.models import Role
from tenant_apps.sso.models import SsoConfig
from tests.conftest import PASSWORD, client_for
from tests.tenant_apps.sso.conftest import browser_sign_in, configure_sso, local_path, web_client

URL = "/api/settings/sso/"


def _body(provider, **changes):
    return {
        "issuer": provider.issuer,
        "client_id": provider.client_id,
        "client_secret": provider.client_secret,
        "allowed_domains": ["Acme-Corp.test", "@sub.acme-corp.test"],
        "default_role": "rep",
        "enabled": True,
        **changes,
    }


def test_an_admin_sets_sso_up_and_the_secret_is_never_returned(org, api, oidc_provider):
    client = api(Role.ADMIN)

    response = client.put(URL, _body(oidc_provider), format="json")

    assert response.status_code == 200, response.content
    data = response.json()
    assert "client_secret" not in data and data["client_secret_set"] is True
    assert oidc_provider.client_secret not in response.content.decode()
    assert data["allowed_domains"] == ["acme-corp.test", "sub.acme-corp.test"]
    assert data["token_endpoint"].startswith(oidc_provider.issuer)  # read from the discovery document
    assert data["redirect_uri"] == "http://acme.testserver.local/sso/callback/"
    assert client.get(URL).json() == data
    with schema_context(org.schema_name):
        event = AuditEvent.objects.get(action="sso.settings_changed")
        assert event.changes["client_secret"] == "(changed)"
        assert oidc_provider.client_secret not in str(event.changes)


def test_fields_left_out_keep_their_value(org, api, oidc_provider):
    configure_sso(org, oidc_provider)
    response = api(Role.ADMIN).put(URL, {"default_role": "manager"}, format="json")
    assert response.status_code == 200, response.content
    with schema_context(org.schema_name):
        config = SsoConfig.objects.get()
        assert config.client_secret == oidc_provider.client_secret and config.default_role == "manager"


def test_an_issuer_other_than_the_one_its_discovery_document_names_is_refused(api, oidc_provider):
    response = api(Role.ADMIN).put(
        URL, _body(oidc_provider, issuer=oidc_provider.issuer + "/"), format="json"
    )
    assert response.status_code == 400
    assert response.json()["code"] == "issuer_mismatch" and "issuer" in response.json()["errors"]


def test_an_issuer_without_a_discovery_document_is_refused(api, oidc_provider):
    response = api(Role.ADMIN).put(
        URL, _body(oidc_provider, issuer=oidc_provider.issuer + "/nothing"), format="json"
    )
    assert response.status_code == 400
    assert response.json()["code"] == "discovery_failed" and "issuer" in response.json()["errors"]


@override_settings(SSO_ALLOW_PRIVATE_ISSUERS=False)
def test_an_issuer_on_a_private_address_is_refused_unless_allowed(api, oidc_provider):
    response = api(Role.ADMIN).put(URL, _body(oidc_provider), format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "private_address" and "issuer" in response.json()["errors"]


def test_bad_input_is_a_400_naming_the_field(api, oidc_provider):
    client = api(Role.ADMIN)
    cases = [
        ({"default_role": "admin"}, "default_role"),
        ({"default_role": "emperor"}, "default_role"),
        ({"allowed_domains": ["not a domain"]}, "allowed_domains"),
        ({"allowed_domains": "acme-corp.test"}, "allowed_domains"),
        ({"issuer": "ftp://example.test/"}, "issuer"),
        ({"enabled": "maybe"}, "enabled"),
        ({"client_id": 7}, "client_id"),
    ]
    for changes, field in cases:
        response = client.put(URL, _body(oidc_provider, **changes), format="json")
        assert response.status_code == 400, (changes, response.content)
        assert field in response.json()["errors"], (changes, response.json())
    response = client.put(URL, {"enabled": True}, format="json")  # nothing configured yet
    assert response.status_code == 400 and set(response.json()["errors"]) == {"issuer"}


def test_only_admins_see_or_change_sso(api, oidc_provider):
    for role in (Role.MANAGER, Role.REP, Role.VIEWER):
        client = api(role)
        assert client.get(URL).status_code == 403
        assert client.put(URL, _body(oidc_provider), format="json").status_code == 403


def test_requiring_sso_needs_an_admin_session_that_came_through_sso(org, member, oidc_provider):
    configure_sso(org, oidc_provider)
    admin = member(role=Role.ADMIN, email="alice@acme-corp.test")
    token_client = client_for(org, admin)

    response = token_client.put(URL, {"require_sso": True}, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "sso_session_required" and "require_sso" in response.json()["errors"]

    password_session = web_client(org)
    assert password_session.post("/sign-in/", {"email": admin.email, "password": PASSWORD}).status_code == 302
    response = password_session.put(URL, {"require_sso": True}, content_type="application/json")
    assert response.status_code == 400 and response.json()["code"] == "sso_session_required"

    sso_session = web_client(org)
    authorize = sso_session.get("/sso/login/")["Location"]
    assert sso_session.get(local_path(browser_sign_in(authorize, "alice@acme-corp.test"))).status_code == 302
    response = sso_session.put(URL, {"require_sso": True}, content_type="application/json")
    assert response.status_code == 200, response.content
    assert response.json()["require_sso"] is True

    # and while it is required, SSO cannot be switched off
    response = sso_session.put(URL, {"enabled": False}, content_type="application/json")
    assert response.status_code == 400 and "enabled" in response.json()["errors"]


def _require_sso(org):
    with schema_context(org.schema_name):
        SsoConfig.objects.filter(pk=1).update(require_sso=True)


def test_required_sso_refuses_passwords_on_the_api_and_the_sign_in_page(org, member, oidc_provider):
    configure_sso(org, oidc_provider)
    rep = member(role=Role.REP)
    _require_sso(org)

    response = client_for(org).post(
        "/api/auth/token/", {"email": rep.email, "password": PASSWORD}, format="json"
    )
    assert response.status_code == 403 and response.json()["code"] == "sso_required"

    page = web_client(org)
    response = page.post("/sign-in/", {"email": rep.email, "password": PASSWORD})
    assert response.status_code == 403
    assert "single sign-on" in response.content.decode() and "Sign in with SSO" in response.content.decode()
    assert page.get("/api/me/").status_code in (401, 403)

    # a wrong password says nothing more than before
    response = client_for(org).post(
        "/api/auth/token/", {"email": rep.email, "password": "wrong"}, format="json"
    )
    assert response.status_code == 401 and response.json()["code"] == "invalid_credentials"


def test_required_sso_in_one_organization_leaves_the_others_and_operators_alone(
    org, other_org, member, oidc_provider, operator
):
    configure_sso(org, oidc_provider)
    _require_sso(org)
    globex_rep = member(role=Role.REP, organization=other_org)

    response = client_for(other_org).post(
        "/api/auth/token/", {"email": globex_rep.email, "password": PASSWORD}, format="json"
    )
    assert response.status_code == 200
    response = client_for(None).post(
        "/api/platform/auth/token/", {"email": operator.email, "password": PASSWORD}, format="json"
    )
    assert response.status_code == 200


def test_the_sign_in_page_offers_sso_when_it_is_enabled(org, oidc_provider):
    assert "Sign in with SSO" not in web_client(org).get("/sign-in/").content.decode()
    configure_sso(org, oidc_provider)
    page = web_client(org).get("/sign-in/?next=/leads/").content.decode()
    assert "Sign in with SSO" in page and "/sso/login/?next=/leads/" in page


def _signed_in(org, user):
    page = web_client(org)
    with schema_context(org.schema_name):
        page.force_login(user)
    return page


def test_the_settings_page_is_for_admins(org, member, oidc_provider):
    admin, viewer = member(role=Role.ADMIN), member(role=Role.VIEWER)
    page = _signed_in(org, viewer)
    assert page.get("/settings/").status_code == 200  # the settings index lists a viewer's own pages only
    assert 'href="/settings/sso/"' not in page.get("/settings/").content.decode()
    assert page.get("/settings/sso/").status_code == 403
    assert page.post("/settings/sso/", {"default_role": "rep"}).status_code == 403

    page = _signed_in(org, admin)
    assert 'href="/settings/sso/"' in page.get("/settings/").content.decode()  # on the admins' settings index
    response = page.get("/settings/sso/")
    assert (
        response.status_code == 200
        and "http://acme.testserver.local/sso/callback/" in response.content.decode()
    )
    form = {
        "issuer": oidc_provider.issuer,
        "client_id": oidc_provider.client_id,
        "client_secret": oidc_provider.client_secret,
        "allowed_domains": "acme-corp.test, example.test",
        "default_role": "rep",
        "enabled": "on",
    }
    response = page.post("/settings/sso/", {**form, "issuer": oidc_provider.issuer + "/"})
    assert response.status_code == 400 and "names the issuer" in response.content.decode()
    assert page.post("/settings/sso/", form).status_code == 302
    with schema_context(org.schema_name):
        config = SsoConfig.objects.get()
        assert config.enabled and config.allowed_domains == ["acme-corp.test", "example.test"]
    assert oidc_provider.client_secret not in page.get("/settings/sso/").content.decode()


def test_an_operator_lifts_the_requirement_when_the_provider_fails(org, member, oidc_provider):
    configure_sso(org, oidc_provider)
    rep = member(role=Role.REP)
    _require_sso(org)
    credentials = {"email": rep.email, "password": PASSWORD}
    assert client_for(org).post("/api/auth/token/", credentials, format="json").status_code == 403

    out = StringIO()
    call_command("sso_unlock", org.slug, stdout=out)

    assert "require_sso off" in out.getvalue()
    assert client_for(org).post("/api/auth/token/", credentials, format="json").status_code == 200
    with schema_context(org.schema_name):
        config = SsoConfig.objects.get()
        assert config.enabled and not config.require_sso
        event = AuditEvent.objects.get(action="sso.settings_changed", via="command")
        assert event.changes == {"require_sso": [True, False]}


class _Huge(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b'{"issuer": "' + b"x" * (2 * 1024 * 1024) + b'"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        with contextlib.suppress(OSError):  # we hang up after the first 256 KB
            self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_a_provider_answering_too_much_is_refused_without_reading_it_all(api):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Huge)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        issuer = f"http://127.0.0.1:{server.server_address[1]}"
        response = api(Role.ADMIN).put(URL, {"issuer": issuer}, format="json")
    finally:
        server.shutdown()
        server.server_close()
    assert response.status_code == 400
    assert response.json()["code"] == "discovery_failed" and "too large" in response.json()["message"]


def test_required_sso_sends_no_password_reset_link(org, member, oidc_provider, smtp):
    configure_sso(org, oidc_provider)
    rep = member(role=Role.REP)
    response = client_for(org).post("/api/auth/password-reset/", {"email": rep.email}, format="json")
    assert response.status_code == 202 and len(smtp.messages) == 1  # a password still signs them in

    _require_sso(org)
    again = client_for(org).post("/api/auth/password-reset/", {"email": rep.email}, format="json")

    assert (again.status_code, again.json()) == (202, response.json())  # the same answer as ever
    assert len(smtp.messages) == 1
