from datetime import timedelta

from django.utils import timezone
from django_tenants.utils import schema_context

from shared_apps.users.credentials_cache import credentials_changed
from shared_apps.users.models import AuthToken, Role, User
from shared_apps.users.services import member_set_active, tokens_purge_expired
from tests.conftest import PASSWORD, client_for


def sign_in(organization, email, password=PASSWORD):
    return client_for(organization).post(
        "/api/auth/token/", {"email": email, "password": password}, format="json"
    )


def test_member_signs_in_and_reads_me(org, member):
    user = member(role=Role.VIEWER)
    response = sign_in(org, user.email.upper())
    assert response.status_code == 200
    token = response.json()["token"]
    assert token.startswith("lpt_")

    me = client_for(org).get("/api/me/", HTTP_AUTHORIZATION=f"Bearer {token}").json()
    assert (me["email"], me["role"], me["organization"]["slug"]) == (user.email, "viewer", "acme")


def test_tokens_are_stored_hashed(org, member):
    user = member()
    token = sign_in(org, user.email).json()["token"]
    with schema_context(org.schema_name):
        stored = AuthToken.objects.get(user=user)
    assert token not in stored.digest and len(stored.digest) == 64


def test_wrong_password_is_401(org, member):
    response = sign_in(org, member().email, password="nope")
    assert (response.status_code, response.json()["code"]) == (401, "invalid_credentials")


def test_a_member_of_acme_does_not_exist_in_globex(org, other_org, member):
    user = member(organization=org)
    response = sign_in(other_org, user.email)
    assert response.status_code == 401


def test_same_email_in_two_organizations_is_two_people(org, other_org, member):
    acme_user = member(organization=org, email="jane@shared.test", role=Role.ADMIN)
    globex_user = member(organization=other_org, email="jane@shared.test", role=Role.VIEWER)
    acme_me = client_for(org, acme_user).get("/api/me/").json()
    globex_me = client_for(other_org, globex_user).get("/api/me/").json()
    assert (acme_me["role"], globex_me["role"]) == ("admin", "viewer")


def test_acme_token_is_rejected_on_globex(org, other_org, member):
    token = sign_in(org, member().email).json()["token"]
    response = client_for(other_org).get("/api/me/", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert (response.status_code, response.json()["code"]) == (401, "authentication_failed")


def test_deactivated_member_token_stops_working_at_once(org, member):
    user = member()
    client = client_for(org, user)
    assert client.get("/api/me/").status_code == 200
    with schema_context(org.schema_name):
        User.objects.filter(pk=user.pk).update(is_active=False)
        # a bulk update sends no signal: whoever writes one drops the cached credentials themselves
        credentials_changed()
    assert client.get("/api/me/").status_code == 401


def test_deactivation_through_the_service_ends_a_cached_token_at_once(org, member):
    user = member()
    client = client_for(org, user)
    assert client.get("/api/me/").status_code == 200  # cached now
    with schema_context(org.schema_name):
        member_set_active(member_id=user.pk, active=False)
    assert client.get("/api/me/").status_code == 401


def test_expired_token_is_401_and_purged_by_the_job(org, member):
    user = member()
    client = client_for(org, user)
    with schema_context(org.schema_name):
        AuthToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
        credentials_changed()  # a bulk update sends no signal
    assert client.get("/api/me/").status_code == 401
    with schema_context(org.schema_name):
        assert tokens_purge_expired() == 1
        assert tokens_purge_expired() == 0


def test_sign_out_revokes_the_token(org, member):
    client = client_for(org, member())
    assert client.post("/api/auth/sign-out/").status_code == 204
    assert client.get("/api/me/").status_code == 401


def test_malformed_authorization_headers_are_401_not_500(org):
    for header in ["Bearer", "Bearer a b", "Bearer \x00", "Bearer " + "x" * 10_000]:
        response = client_for(org).get("/api/me/", HTTP_AUTHORIZATION=header)
        assert response.status_code == 401, header
