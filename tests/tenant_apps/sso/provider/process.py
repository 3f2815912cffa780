"""Start and stop the test provider (serve.py) as a subprocess on a free 127.0.0.1 port with a fresh RSA key:
used by the SSO tests' fixture and by bench/sso.py."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings
from psycopg import sql

ROOT = Path(__file__).resolve().parents[4]
START_TIMEOUT = 30.0


@dataclass
class RunningProvider:
    issuer: str
    process: subprocess.Popen[bytes]
    log: Path
    database: dict[str, str]

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        _database("drop", self.database)


def _database(action: str, database: dict[str, str]) -> None:
    """Create the provider's PostgreSQL database afresh (on the server the suite uses), or drop it."""
    server = {"dbname": "postgres", "host": database["HOST"], "port": database["PORT"]}
    server.update({key: database[field] for key, field in (("user", "USER"), ("password", "PASSWORD"))})
    with psycopg.connect(**{k: v for k, v in server.items() if v}, autocommit=True) as connection:
        name = sql.Identifier(database["NAME"])
        connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
        if action == "create":
            connection.execute(sql.SQL("CREATE DATABASE {}").format(name))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start(
    *,
    workdir: Path,
    redirect_uris: list[str],
    accounts: list[str],
    password: str,
    client_id: str,
    client_secret: str,
) -> RunningProvider:
    """The provider, once its discovery document answers (RuntimeError with its log if it does not)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    port = _free_port()
    issuer = f"http://127.0.0.1:{port}/o"
    # a database of its own beside the suite's (one connection: the provider serves from one thread at a time)
    server = settings.DATABASES["default"]
    database = {key: str(server.get(key) or "") for key in ("HOST", "PORT", "USER", "PASSWORD")}
    database["NAME"] = f"{server['NAME']}_oidc"
    _database("create", database)
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "OIDC_PROVIDER_DATABASE": json.dumps(database),
        "OIDC_PROVIDER_KEY": pem,
        "OIDC_PROVIDER_ISSUER": issuer,
        "OIDC_PROVIDER_PORT": str(port),
        "OIDC_PROVIDER_REDIRECT_URIS": " ".join(redirect_uris),
        "OIDC_PROVIDER_ACCOUNTS": json.dumps(accounts),
        "OIDC_PROVIDER_PASSWORD": password,
        "OIDC_PROVIDER_CLIENT_ID": client_id,
        "OIDC_PROVIDER_CLIENT_SECRET": client_secret,
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)
    log = workdir / "provider.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.tenant_apps.sso.provider.serve"],
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    running = RunningProvider(issuer=issuer, process=process, log=log, database=database)
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"the test provider exited: {log.read_text()[-2000:]}")
        try:
            if requests.get(f"{issuer}/.well-known/openid-configuration", timeout=1).ok:
                return running
        except requests.ConnectionError:
            pass
        if time.monotonic() > deadline:
            running.stop()
            raise RuntimeError(f"the test provider did not start: {log.read_text()[-2000:]}")
        time.sleep(0.1)
