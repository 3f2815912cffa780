"""Single sign-on end to end through HTTP vs a plain password sign-in, on uvicorn serving config.asgi.

The test suite's OpenID Connect provider (tests/tenant_apps/sso/provider: django-oauth-toolkit, a
PostgreSQL database of its own) runs as a subprocess; the `benchsso` organization of the `<db>_bench` database
trusts it. Each round, interleaved:

    password     GET /sign-in/ (outside the timing, for the CSRF token), then POST /sign-in/ with the email
                 and password (the deployment's password hasher) -> the timed request          (the baseline)
    callback     GET /sso/callback/?code&state: our side of SSO alone: state check, the code exchange with
                 its PKCE verifier, the provider's keys fetched, the ID token verified, the session opened
    round trip   GET /sso/login/ + the provider's consent page and its answer (the browser stays signed in
                 at the provider) + the callback: what a person waits for, the provider included

BENCH_SSO_ROUNDS (default 40) rounds; medians and p95, with ratios to the password sign-in.
"""

from __future__ import annotations

import os
import re
import tempfile
import time
from pathlib import Path

import requests

from bench.common import bench_organization, free_port, report, setup_django, start_uvicorn

ROUNDS = int(os.environ.get("BENCH_SSO_ROUNDS", "40"))
WARMUP = 3
SLUG = "benchsso"
PASSWORD = "bench-password-2026"
PERSON = f"person@{SLUG}.example"
CLIENT_ID = "leadpulse-bench"
CLIENT_SECRET = "leadpulse-bench-secret"


def _csrf(page: requests.Response) -> str:
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    assert match, page.text[:300]
    return match.group(1)


def main() -> None:
    os.environ["SSO_ALLOW_PRIVATE_ISSUERS"] = "1"  # the provider listens on 127.0.0.1
    setup_django()
    from django.conf import settings
    from django_tenants.utils import schema_context

    from shared_apps.users.models import User
    from tenant_apps.sso.services import sso_config_update
    from tests.tenant_apps.sso.provider import process
    from tests.tenant_apps.sso.provider.browser import PROVIDER_PASSWORD, browser_sign_in

    organization = bench_organization(SLUG, "SSO bench", PASSWORD)
    port = free_port()
    host = f"{SLUG}.{settings.BASE_DOMAIN}:{port}"
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as workdir:
        provider = process.start(
            workdir=Path(workdir),
            redirect_uris=[f"http://{host}/sso/callback/"],
            accounts=[PERSON],
            password=PROVIDER_PASSWORD,
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
        )
        with schema_context(organization.schema_name):
            sso_config_update(
                changes={
                    "issuer": provider.issuer,
                    "client_id": CLIENT_ID,
                    "client_secret": CLIENT_SECRET,
                    "allowed_domains": [f"{SLUG}.example"],
                    "enabled": True,
                    "require_sso": False,
                },
                signed_in_with_sso=False,
            )
            admin_email = User.objects.filter(role="admin").order_by("pk").values_list("email", flat=True)[0]
        env = {
            **os.environ,
            "THROTTLE_SIGN_IN": "1000000/min",
            "THROTTLE_SIGN_IN_ACCOUNT": "1000000/min",
        }
        server = start_uvicorn(env, port)
        rows: dict[str, list[float]] = {"password": [], "callback": [], "round trip": []}
        try:
            provider_browser = requests.Session()
            for round_number in range(WARMUP + ROUNDS):
                keep = round_number >= WARMUP
                browser = requests.Session()
                page = browser.get(f"{base}/sign-in/", headers={"Host": host}, timeout=30)
                started = time.perf_counter()
                response = browser.post(
                    f"{base}/sign-in/",
                    data={"email": admin_email, "password": PASSWORD, "csrfmiddlewaretoken": _csrf(page)},
                    headers={"Host": host, "Referer": f"http://{host}/sign-in/"},
                    allow_redirects=False,
                    timeout=30,
                )
                elapsed = time.perf_counter() - started
                assert response.status_code == 302, (response.status_code, response.text[:300])
                if keep:
                    rows["password"].append(elapsed)

                browser = requests.Session()
                started = time.perf_counter()
                start = browser.get(
                    f"{base}/sso/login/", headers={"Host": host}, allow_redirects=False, timeout=30
                )
                assert start.status_code == 302, start.text[:300]
                callback = browser_sign_in(start.headers["Location"], PERSON, browser=provider_browser)
                path = callback.split(host, 1)[1]
                callback_started = time.perf_counter()
                response = browser.get(
                    f"{base}{path}", headers={"Host": host}, allow_redirects=False, timeout=30
                )
                finished = time.perf_counter()
                assert response.status_code == 302, (response.status_code, response.text[:300])
                if keep:
                    rows["callback"].append(finished - callback_started)
                    rows["round trip"].append(finished - started)
        finally:
            server.terminate()
            server.wait()
            provider.stop()
    report(
        f"SSO sign-in vs password sign-in through uvicorn ({ROUNDS} rounds, interleaved)",
        rows,
        baseline="password",
    )
