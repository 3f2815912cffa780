"""Production settings: secrets only from the environment, secure cookies, and the security headers on what
is actually served. (`manage.py check --deploy` passing with them: tests/test_settings.py.)

config.settings.production is evaluated in a subprocess, as a deployment would load it; its security
settings are then applied to this process with override_settings, and real requests go through the full
middleware stack."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import override_settings
from django.urls import path as route
from django_tenants.utils import schema_context

from shared_apps.users.models import Role
from shared_apps.users.services import token_issue
from tests.conftest import PASSWORD, host_of

ROOT = Path(__file__).resolve().parent.parent
SECRET = "s" * 50 + "-from-the-environment"
# settings whose values are credentials: never a default written in the code
SECRET_NAME = re.compile(r"(SECRET|PASSWORD|TOKEN|PRIVATE_KEY|CREDENTIALS?|API_KEY)(_FALLBACKS)?$")
SECURITY_SETTINGS = re.compile(
    r"^(SECURE_|SESSION_COOKIE_|CSRF_COOKIE_|X_FRAME_OPTIONS$|DEBUG$|USE_X_FORWARDED)"
)

PRINT_SETTINGS = """
import json, django
from django.conf import settings
django.setup()
names = [name for name in dir(settings) if name.isupper()]
out = {name: getattr(settings, name) for name in names}
out["DATABASE_PASSWORDS"] = [db.get("PASSWORD", "") for db in settings.DATABASES.values()]
print(json.dumps(out, default=repr))
"""


def _environment(**extra: str) -> dict[str, str]:
    """Nothing but `extra`: every other setting takes the default written in the code."""
    return {
        "PATH": os.environ.get("PATH", ""),
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        **extra,
    }


def _production(**extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", PRINT_SETTINGS],
        cwd=ROOT,
        env=_environment(**extra),
        capture_output=True,
        text=True,
        check=False,
    )


@cache
def production_settings() -> dict[str, Any]:
    result = _production(SECRET_KEY=SECRET, BASE_DOMAIN="leadpulse.example", DEBUG="1")
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout))


@pytest.fixture
def no_dotenv_secret() -> None:
    dotenv = ROOT / ".env"
    if dotenv.exists() and "SECRET_KEY" in dotenv.read_text():
        pytest.skip(".env defines SECRET_KEY on this machine (read by config.settings.base)")


def test_production_refuses_to_start_without_a_secret_key(no_dotenv_secret: None):
    result = _production(BASE_DOMAIN="leadpulse.example")
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_production_secrets_come_only_from_the_environment(no_dotenv_secret: None):
    values = production_settings()
    assert values["SECRET_KEY"] == SECRET
    written_in_code = {
        name: value
        for name, value in values.items()
        if (SECRET_NAME.search(name) or name == "DATABASE_PASSWORDS")
        and name != "SECRET_KEY"
        and (any(value) if isinstance(value, list) else bool(value))
    }
    assert not written_in_code, f"secret-looking settings with a value nobody provided: {written_in_code}"


def test_production_settings_are_secure():
    values = production_settings()
    assert values["DEBUG"] is False  # even with DEBUG=1 in the environment
    assert values["SESSION_COOKIE_SECURE"] and values["CSRF_COOKIE_SECURE"]
    assert values["SESSION_COOKIE_HTTPONLY"]
    assert values["SECURE_SSL_REDIRECT"]
    assert values["SECURE_HSTS_SECONDS"] >= 31536000 and values["SECURE_HSTS_INCLUDE_SUBDOMAINS"]
    assert values["SECURE_CONTENT_TYPE_NOSNIFF"]
    assert values["X_FRAME_OPTIONS"] == "DENY"
    assert values["SECURE_REFERRER_POLICY"] in (
        "same-origin",
        "strict-origin-when-cross-origin",
        "no-referrer",
    )
    assert values["USE_X_FORWARDED_HOST"] is False  # the Host header picks the organization
    middleware = values["MIDDLEWARE"]
    assert "django.middleware.security.SecurityMiddleware" in middleware
    assert "django.middleware.clickjacking.XFrameOptionsMiddleware" in middleware
    assert "django.middleware.csrf.CsrfViewMiddleware" in middleware


@pytest.fixture
def production_like() -> Any:
    """This process with the production module's security settings (database and hosts stay the test's)."""
    values = production_settings()
    secure = {name: value for name, value in values.items() if SECURITY_SETTINGS.match(name)}
    if isinstance(secure.get("SECURE_PROXY_SSL_HEADER"), list):
        secure["SECURE_PROXY_SSL_HEADER"] = tuple(secure["SECURE_PROXY_SSL_HEADER"])
    with override_settings(**secure):
        yield secure


def _https(client: Any, method: str, path: str, **extra: Any) -> Any:
    """As behind the TLS-terminating proxy (SECURE_PROXY_SSL_HEADER)."""
    return getattr(client, method)(path, HTTP_X_FORWARDED_PROTO="https", **extra)


def test_responses_carry_the_security_headers_in_production(production_like, org, member):
    from rest_framework.test import APIClient

    user = member(role=Role.ADMIN)
    with schema_context(org.schema_name):
        token, _ = token_issue(email=user.email, password=PASSWORD)
    client = APIClient(HTTP_HOST=host_of(org), HTTP_AUTHORIZATION=f"Bearer {token}")
    for path in ("/api/me/", "/sign-in/", "/api/no-such-route/"):
        response = _https(client, "get", path)
        assert response.status_code in (200, 404), (path, response.status_code)
        assert response["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload", path
        assert response["X-Content-Type-Options"] == "nosniff", path
        assert response["X-Frame-Options"] == "DENY", path
        assert response["Referrer-Policy"] == production_like["SECURE_REFERRER_POLICY"], path
        assert response["Cross-Origin-Opener-Policy"] == "same-origin", path
    # plain HTTP is sent to HTTPS, and never told HSTS (browsers ignore it there anyway)
    insecure = client.get("/api/me/")
    assert insecure.status_code == 301 and insecure["Location"].startswith("https://")


def test_cookies_are_secure_in_production(production_like, org, member):
    from django.test import Client

    user = member(role=Role.REP)
    client = Client(HTTP_HOST=host_of(org), enforce_csrf_checks=True)
    form = _https(client, "get", "/sign-in/")
    csrf = form.cookies[settings.CSRF_COOKIE_NAME]
    assert csrf["secure"] and csrf["samesite"] == "Lax"
    signed_in = _https(
        client,
        "post",
        "/sign-in/",
        data={"email": user.email, "password": PASSWORD, "csrfmiddlewaretoken": csrf.value},
        HTTP_REFERER=f"https://{host_of(org)}/sign-in/",  # HTTPS posts must come from this origin
    )
    assert signed_in.status_code == 302, signed_in.content[:300]
    session = signed_in.cookies[settings.SESSION_COOKIE_NAME]
    assert session["secure"] and session["httponly"] and session["samesite"] == "Lax"


# ---- /api/ answers JSON errors even with DEBUG on; `make up` runs with DEBUG off -------------------------


def _boom(request: Any) -> Any:
    raise RuntimeError("an unhandled failure with SECRET_KEY somewhere in its locals")


urlpatterns = [route("api/boom/", _boom)]  # this module doubles as a URLconf for the tests below


def test_make_up_runs_with_debug_off():
    result = _production(DJANGO_SETTINGS_MODULE="config.settings.local", SECRET_KEY=SECRET)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["DEBUG"] is False


@pytest.mark.parametrize("debug", [True, False])
def test_api_paths_answer_json_errors_never_debug_pages(debug, org, settings):
    from rest_framework.test import APIClient

    settings.DEBUG = debug
    settings.ROOT_URLCONF = __name__
    client = APIClient(HTTP_HOST=host_of(org), raise_request_exception=False)
    missing = client.get("/api/no-such-route/")
    assert missing.status_code == 404
    assert missing["Content-Type"] == "application/json"
    assert missing.json()["code"] == "not_found"
    failed = client.get("/api/boom/")
    assert failed.status_code == 500
    assert failed.json() == {"code": "server_error", "message": "Internal server error.", "details": {}}
    assert b"SECRET_KEY" not in failed.content and b"Traceback" not in failed.content
