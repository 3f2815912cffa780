"""Signing in with a password and a TOTP code vs with a password alone, through HTTP (uvicorn as `make up`
runs it, on the `<db>_bench` database, organization `benchsignin`, kept between runs).

Four flows, interleaved round by round after a warm-up, each timed from its first request to its last answer:

    API, password              POST /api/auth/token/ {email, password}                        (baseline)
    API, password + TOTP       POST /api/auth/token/ {email, password, otp}
    web, password              GET /sign-in/, POST the password -> signed in                   (baseline)
    web, password + TOTP       GET /sign-in/, POST the password, POST the code -> signed in
    invitation acceptance      GET /invitations/<token>/, POST name and password -> a new member, signed in

Each round's invitation is made through the invitation service outside the timing (its email goes to Django's
in-memory backend, where the bench reads the link); the new members are removed at the end.

The code is the authenticator's for the current step, computed by the bench (pyotp) outside the timing. A
code is accepted once (its time step must be later than the last one used), so the enrolled member's
`last_step` is reset before each round, outside the timing, as if each round were 30 s after the previous.
The sign-in throttles are lifted for the server. Both users have the same password hasher and iterations:
what the ratio shows is what the second factor adds (a row lock, an HMAC, a write; one more round trip on the
web)."""

from __future__ import annotations

import http.client
import os
import re
import time
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import urlencode

from bench.common import bench_organization, free_port, report, setup_django, start_uvicorn

ROUNDS = int(os.environ.get("BENCH_SIGNIN_ROUNDS", "30"))
WARMUP = 3
SLUG = "benchsignin"
PASSWORD = "bench-password-2026"
PLAIN_EMAIL = f"plain@{SLUG}.example"
TOTP_EMAIL = f"totp@{SLUG}.example"
API_PLAIN, API_TOTP = "API, password (baseline)", "API, password + TOTP"
WEB_PLAIN, WEB_TOTP = "web, password (baseline)", "web, password + TOTP"
INVITATION = "invitation acceptance"
INVITEE_PREFIX = "invitee-"


class Browser:
    """One keep-alive connection with a cookie jar, sending the organization's Host header."""

    def __init__(self, port: int, host: str) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.host, self.cookies = host, SimpleCookie()

    def request(self, method: str, path: str, body: str = "", content_type: str = "") -> tuple[int, str, str]:
        headers = {"Host": self.host}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{key}={morsel.value}" for key, morsel in self.cookies.items())
        if content_type:
            headers["Content-Type"] = content_type
        self.connection.request(method, path, body=body or None, headers=headers)
        response = self.connection.getresponse()
        text = response.read().decode()
        for header in response.headers.get_all("Set-Cookie") or []:
            self.cookies.load(header)
        return response.status, response.headers.get("Location", ""), text

    def form(self, path: str, fields: dict[str, str]) -> tuple[int, str]:
        token = self.cookies["csrftoken"].value
        status, location, _ = self.request(
            "POST",
            path,
            urlencode({**fields, "csrfmiddlewaretoken": token}),
            "application/x-www-form-urlencoded",
        )
        return status, location

    def close(self) -> None:
        self.connection.close()


def _users(organization: Any) -> str:
    """The two members (created on the first run); enrols the second; returns its TOTP secret."""
    import pyotp
    from django_tenants.utils import schema_context

    from shared_apps.mfa import services
    from shared_apps.mfa.models import TotpDevice
    from shared_apps.users.models import User

    with schema_context(organization.schema_name):
        for email in (PLAIN_EMAIL, TOTP_EMAIL):
            if not User.objects.filter(email=email).exists():
                User.objects.create_user(email, PASSWORD, role="rep")
        totp_user = User.objects.get(email=TOTP_EMAIL)
        device = TotpDevice.objects.filter(user=totp_user, confirmed_at__isnull=False).first()
        if device is None:
            enrolment = services.enrolment_start(user=totp_user)
            services.enrolment_confirm(user=totp_user, code=pyotp.TOTP(enrolment.secret).now())
            device = TotpDevice.objects.get(user=totp_user)
        return device.secret


def _reset_last_step(organization: Any) -> None:
    from django_tenants.utils import schema_context

    from shared_apps.mfa.models import TotpDevice

    with schema_context(organization.schema_name):
        TotpDevice.objects.filter(user__email=TOTP_EMAIL).update(last_step=0)


def _api(port: int, host: str, body: dict[str, str]) -> float:
    import json

    browser = Browser(port, host)
    try:
        start = time.perf_counter()
        status, _, text = browser.request("POST", "/api/auth/token/", json.dumps(body), "application/json")
        elapsed = time.perf_counter() - start
    finally:
        browser.close()
    if status != 200:
        raise RuntimeError(f"API sign-in answered {status}: {text[:200]}")
    return elapsed


def _web(port: int, host: str, email: str, code: str | None) -> float:
    browser = Browser(port, host)
    try:
        start = time.perf_counter()
        status, _, page = browser.request("GET", "/sign-in/")
        if status != 200 or not re.search(r'name="csrfmiddlewaretoken"', page):
            raise RuntimeError(f"sign-in page answered {status}")
        status, location = browser.form("/sign-in/", {"email": email, "password": PASSWORD, "next": "/"})
        if code is not None:
            if location != "/sign-in/two-factor/":
                raise RuntimeError(f"password step answered {status} {location}")
            status, location = browser.form("/sign-in/two-factor/", {"code": code})
        elapsed = time.perf_counter() - start
        if (status, location) != (302, "/"):
            raise RuntimeError(f"sign-in ended with {status} {location}")
    finally:
        browser.close()
    return elapsed


def _invitation_link(organization: Any, round_: int) -> str:
    """A new invitation through the service; the path of the link its email carries."""
    from django.core import mail
    from django_tenants.utils import schema_context

    from shared_apps.users.invitations import invitation_create

    mail.outbox = []
    with schema_context(organization.schema_name):
        invitation_create(
            email=f"{INVITEE_PREFIX}{os.getpid()}-{round_}@{SLUG}.example", role="rep", invited_by=None
        )
    match = re.search(r"https?://[^/\s]+(/invitations/[^\s]+/)", mail.outbox[-1].body)
    if match is None:
        raise RuntimeError("the invitation email carries no link")
    return match.group(1)


def _accept(port: int, host: str, path: str) -> float:
    browser = Browser(port, host)
    try:
        start = time.perf_counter()
        status, _, page = browser.request("GET", path)
        if status != 200 or "csrfmiddlewaretoken" not in page:
            raise RuntimeError(f"the invitation page answered {status}")
        status, location = browser.form(path, {"full_name": "Bench Invitee", "password": PASSWORD})
        elapsed = time.perf_counter() - start
        if (status, location) != (302, "/"):
            raise RuntimeError(f"accepting ended with {status} {location}")
    finally:
        browser.close()
    return elapsed


def main() -> None:
    # a database of its own (BENCH_SIGNIN_DB_SUFFIX): this bench's migrations need not be the other benches'
    setup_django(os.environ.get("BENCH_SIGNIN_DB_SUFFIX", "_bench"))
    import pyotp
    from django.conf import settings

    # invitation emails stay in this process (the bench reads their links); the server sends none
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"

    organization = bench_organization(SLUG, "Bench sign-in", PASSWORD)
    secret = _users(organization)
    totp = pyotp.TOTP(secret)
    host = f"{SLUG}.{settings.BASE_DOMAIN}"
    port = free_port()
    env = {
        **os.environ,
        "DEBUG": "0",
        "THROTTLE_SIGN_IN": "1000000/min",
        "THROTTLE_SIGN_IN_ACCOUNT": "1000000/h",
    }
    server = start_uvicorn(env, port)
    rows: dict[str, list[float]] = {API_PLAIN: [], API_TOTP: [], WEB_PLAIN: [], WEB_TOTP: [], INVITATION: []}
    try:
        for round_ in range(WARMUP + ROUNDS):
            timed: dict[str, float] = {}
            _reset_last_step(organization)
            timed[API_PLAIN] = _api(port, host, {"email": PLAIN_EMAIL, "password": PASSWORD})
            timed[API_TOTP] = _api(port, host, {"email": TOTP_EMAIL, "password": PASSWORD, "otp": totp.now()})
            _reset_last_step(organization)
            timed[WEB_PLAIN] = _web(port, host, PLAIN_EMAIL, None)
            timed[WEB_TOTP] = _web(port, host, TOTP_EMAIL, totp.now())
            timed[INVITATION] = _accept(port, host, _invitation_link(organization, round_))
            if round_ >= WARMUP:
                for name, elapsed in timed.items():
                    rows[name].append(elapsed)
    finally:
        server.terminate()
        server.wait(timeout=30)
        from django_tenants.utils import schema_context

        from shared_apps.users.models import AuthToken, Invitation, User

        with schema_context(organization.schema_name):
            AuthToken.objects.filter(user__email__in=[PLAIN_EMAIL, TOTP_EMAIL]).delete()
            Invitation.objects.filter(email__startswith=INVITEE_PREFIX).delete()
            User.objects.filter(email__startswith=INVITEE_PREFIX).delete()

    report(
        f"API sign-in (POST /api/auth/token/), {ROUNDS} rounds",
        {API_PLAIN: rows[API_PLAIN], API_TOTP: rows[API_TOTP]},
        baseline=API_PLAIN,
    )
    report(
        f"Web sign-in (form, password, code), {ROUNDS} rounds",
        {WEB_PLAIN: rows[WEB_PLAIN], WEB_TOTP: rows[WEB_TOTP]},
        baseline=WEB_PLAIN,
    )
    report(
        f"Invitation acceptance (open the link, set name and password, signed in), {ROUNDS} rounds",
        {WEB_PLAIN: rows[WEB_PLAIN], INVITATION: rows[INVITATION]},
        baseline=WEB_PLAIN,
    )
