"""Signing in through a real OpenID Connect provider (conftest.oidc_provider): the whole browser round trip,
and each check of the callback failing on its own."""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

from django_tenants.utils import schema_context

from shared_apps.audit.models import AuditEvent
from shared_apps.users.models import Role, User
from tenant_apps.sso.models import SsoIdentity
from tests.tenant_apps.sso.conftest import browser_sign_in, configure_sso, local_path, web_client


def _start(client, next_url: str = "/leads/") -> str:
    response = client.get(f"/sso/login/?{urlencode({'next': next_url})}")
    assert response.status_code == 302, response.content
    return response["Location"]


def _with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = {key: values[0] for key, values in parse_qs(parts.query).items()}
    query.update(changes)
    return urlunsplit(parts._replace(query=urlencode(query)))


def _signed_in_as(client) -> str | None:
    response = client.get("/api/me/")
    return response.json()["email"] if response.status_code == 200 else None


def test_a_new_person_of_an_allowed_domain_joins_with_the_default_role(org, oidc_provider):
    configure_sso(org, oidc_provider, default_role=Role.VIEWER)
    client = web_client(org)
    authorize = _start(client)
    query = parse_qs(urlsplit(authorize).query)
    assert query["code_challenge_method"] == ["S256"] and query["code_challenge"] and query["nonce"]
    assert query["state"] and query["client_id"] == [oidc_provider.client_id]

    callback = browser_sign_in(authorize, "alice@acme-corp.test")
    response = client.get(local_path(callback))

    assert response.status_code == 302 and response["Location"] == "/leads/"
    assert _signed_in_as(client) == "alice@acme-corp.test"
    with schema_context(org.schema_name):
        alice = User.objects.get(email="alice@acme-corp.test")
        assert alice.role == Role.VIEWER and not alice.has_usable_password()
        assert SsoIdentity.objects.get(user=alice).issuer == oidc_provider.issuer
        assert AuditEvent.objects.filter(action="member.joined_through_sso", actor_id=alice.pk).exists()


def _refusal(response) -> str:
    """The machine-readable code the refusal page carries."""
    text = response.content.decode()
    marker = 'data-code="'
    assert marker in text, text[:500]
    return text.split(marker, 1)[1].split('"', 1)[0]


def test_an_existing_member_signs_in_and_is_linked_to_the_provider_account(org, oidc_provider, member):
    configure_sso(org, oidc_provider)
    existing = member(role=Role.MANAGER, email="alice@acme-corp.test")
    client = web_client(org)

    response = client.get(local_path(browser_sign_in(_start(client), "alice@acme-corp.test")))

    assert response.status_code == 302
    assert _signed_in_as(client) == "alice@acme-corp.test"
    with schema_context(org.schema_name):
        assert User.objects.filter(email="alice@acme-corp.test").count() == 1
        assert User.objects.get(pk=existing.pk).role == Role.MANAGER  # not the default role
        assert SsoIdentity.objects.filter(user=existing).exists()
        assert not AuditEvent.objects.filter(action="member.joined_through_sso").exists()


def test_a_person_of_a_domain_that_is_not_allowed_is_refused(org, oidc_provider):
    configure_sso(org, oidc_provider, allowed_domains=["acme-corp.test"])
    client = web_client(org)

    response = client.get(local_path(browser_sign_in(_start(client), "outsider@elsewhere.test")))

    assert response.status_code == 403
    assert _refusal(response) == "sso_domain_not_allowed"
    assert "Ask an admin to invite you" in response.content.decode()
    assert _signed_in_as(client) is None
    with schema_context(org.schema_name):
        assert not User.objects.filter(email="outsider@elsewhere.test").exists()
        refused = AuditEvent.objects.get(action="sso.sign_in_refused")
        assert refused.changes == {"code": "sso_domain_not_allowed", "email": "outsider@elsewhere.test"}


def test_a_tampered_state_is_refused(org, oidc_provider):
    configure_sso(org, oidc_provider)
    client = web_client(org)
    callback = browser_sign_in(_start(client), "alice@acme-corp.test")

    response = client.get(local_path(_with_query(callback, state="forged-state")))

    assert response.status_code == 400 and _refusal(response) == "sso_state_mismatch"
    assert _signed_in_as(client) is None
    # the flow is spent: the genuine callback no longer works either
    response = client.get(local_path(callback))
    assert response.status_code == 400 and _refusal(response) == "sso_no_flow"
    with schema_context(org.schema_name):
        assert not User.objects.filter(email="alice@acme-corp.test").exists()


def test_a_callback_in_another_browser_is_refused(org, oidc_provider):
    """A code and state sent to someone else's browser (login CSRF) find no flow in its session."""
    configure_sso(org, oidc_provider)
    callback = browser_sign_in(_start(web_client(org)), "alice@acme-corp.test")
    victim = web_client(org)

    response = victim.get(local_path(callback))

    assert response.status_code == 400 and _refusal(response) == "sso_no_flow"
    assert _signed_in_as(victim) is None


def test_an_id_token_with_another_nonce_is_refused(org, oidc_provider):
    """The provider puts the nonce the authorization request carried into the ID token: one changed on the way
    no longer matches this browser's session."""
    configure_sso(org, oidc_provider)
    client = web_client(org)
    authorize = _with_query(_start(client), nonce="a-nonce-this-session-never-sent")

    response = client.get(local_path(browser_sign_in(authorize, "alice@acme-corp.test")))

    assert response.status_code == 400 and _refusal(response) == "sso_nonce_mismatch"
    assert _signed_in_as(client) is None


def test_an_id_token_signed_by_a_key_the_provider_does_not_publish_is_refused(org, oidc_provider):
    configure_sso(org, oidc_provider)
    client = web_client(org)

    response = client.get(local_path(browser_sign_in(_start(client), "rogue+mallory@acme-corp.test")))

    assert response.status_code == 400 and _refusal(response) == "sso_invalid_signature"
    assert _signed_in_as(client) is None
    with schema_context(org.schema_name):
        assert not User.objects.filter(email="mallory@acme-corp.test").exists()


def test_a_code_challenge_changed_on_the_way_fails_the_exchange(org, oidc_provider):
    """PKCE: the code is bound to the challenge the provider saw; our session's verifier does not match one
    an attacker substituted, so the provider refuses the code."""
    configure_sso(org, oidc_provider)
    client = web_client(org)
    authorize = _with_query(_start(client), code_challenge="E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")

    response = client.get(local_path(browser_sign_in(authorize, "alice@acme-corp.test")))

    assert response.status_code == 400 and _refusal(response) == "sso_code_refused"
    assert _signed_in_as(client) is None


def test_an_unverified_email_is_refused(org, oidc_provider):
    configure_sso(org, oidc_provider)
    client = web_client(org)

    response = client.get(local_path(browser_sign_in(_start(client), "unverified+eve@acme-corp.test")))

    assert response.status_code == 400 and _refusal(response) == "sso_email_unverified"


def test_a_refused_consent_signs_nobody_in(org, oidc_provider):
    configure_sso(org, oidc_provider)
    client = web_client(org)

    response = client.get(local_path(browser_sign_in(_start(client), "alice@acme-corp.test", consent=False)))

    assert response.status_code == 400 and _refusal(response) == "sso_provider_refused"
    assert _signed_in_as(client) is None


def test_a_deactivated_member_is_refused(org, oidc_provider, member):
    configure_sso(org, oidc_provider)
    alice = member(email="alice@acme-corp.test")
    with schema_context(org.schema_name):
        User.objects.filter(pk=alice.pk).update(is_active=False)
    client = web_client(org)

    response = client.get(local_path(browser_sign_in(_start(client), "alice@acme-corp.test")))

    assert response.status_code == 403 and _refusal(response) == "sso_member_inactive"
    assert _signed_in_as(client) is None


def test_next_must_be_a_url_of_this_host(org, oidc_provider):
    configure_sso(org, oidc_provider)
    client = web_client(org)

    response = client.get(
        local_path(browser_sign_in(_start(client, "https://evil.example/"), "alice@acme-corp.test"))
    )

    assert response.status_code == 302 and response["Location"] == "/"


def test_login_is_refused_while_sso_is_not_enabled(org, oidc_provider):
    configure_sso(org, oidc_provider, enabled=False)
    response = web_client(org).get("/sso/login/")
    assert response.status_code == 400 and _refusal(response) == "sso_not_enabled"


def test_another_organizations_sso_never_applies_on_this_host(org, other_org, oidc_provider):
    """globex trusts the provider and allows acme-corp.test; acme has no SSO: nothing of globex's
    configuration signs anyone into acme, and a sign-in started on globex cannot be completed on acme."""
    configure_sso(other_org, oidc_provider, allowed_domains=["acme-corp.test"])
    acme = web_client(org)

    response = acme.get("/sso/login/")
    assert response.status_code == 400 and _refusal(response) == "sso_not_enabled"

    globex = web_client(other_org)
    callback = browser_sign_in(_start(globex), "alice@acme-corp.test")
    assert urlsplit(callback).hostname == f"{other_org.slug}.testserver.local"
    acme.cookies.update(globex.cookies)  # even with globex's session cookie
    response = acme.get(local_path(callback))
    assert response.status_code == 400
    assert _signed_in_as(acme) is None
    with schema_context(org.schema_name):
        assert not User.objects.filter(email="alice@acme-corp.test").exists()

    response = globex.get(local_path(callback))  # the control: on globex's host it works
    assert response.status_code == 302 and _signed_in_as(globex) == "alice@acme-corp.test"


def test_an_sso_session_is_not_sent_to_two_factor_setup_where_two_factor_is_required(org, oidc_provider):
    """The provider is the second factor: an organization requiring two-factor sign-in lets SSO sessions in,
    while a password session of a member without an authenticator is sent to the set-up page."""
    from shared_apps.organizations.models import Organization

    Organization.objects.filter(pk=org.pk).update(require_two_factor=True)
    configure_sso(org, oidc_provider)
    client = web_client(org)

    client.get(local_path(browser_sign_in(_start(client), "alice@acme-corp.test")))

    assert _signed_in_as(client) == "alice@acme-corp.test"
    page = client.get("/leads/")
    assert page.status_code == 200, page.get("Location")
