# ruff: noqa: S607  (linters found on PATH, by name, is the point)
"""What of deploy/ can be checked without Docker or a cluster: files parse, agree with each other, and
pass their own linters where those are installed."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
ROOT = DEPLOY.parent


def k8s_documents() -> list[dict]:
    return [
        doc
        for path in sorted((DEPLOY / "k8s").glob("*.yaml"))
        for doc in yaml.safe_load_all(path.read_text())
    ]


def test_compose_has_every_service_and_a_one_shot_migration():
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    services = compose["services"]
    assert set(services) == {"postgres", "redis", "web", "worker", "scheduler", "inbound-smtp", "migrate"}
    assert services["migrate"]["command"] == ["migrate"] and services["migrate"]["restart"] == "no"
    for name in ("web", "worker", "scheduler", "inbound-smtp"):
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert services[name]["command"] == [name]
    # the receiver writes raw mail that the worker reads and the web serves attachments from: one volume
    for name in ("web", "worker", "inbound-smtp"):
        assert "mailfiles:/srv/mail" in services[name]["volumes"]
        assert services[name]["environment"]["MAIL_FILES_DIR"] == "/srv/mail"
    assert services["inbound-smtp"]["ports"] == ["${INBOUND_SMTP_PUBLISH:-2525}:2525"]
    assert "inbound-smtp)" in (DEPLOY / "entrypoint.sh").read_text()
    assert "platform_setup" in (DEPLOY / "entrypoint.sh").read_text()


def test_k8s_manifests_have_deployments_probes_a_job_and_a_service():
    docs = k8s_documents()
    kinds = {(doc["kind"], doc["metadata"]["name"]) for doc in docs}
    assert {
        ("Deployment", "leadpulse-web"),
        ("Deployment", "leadpulse-worker"),
        ("Deployment", "leadpulse-scheduler"),
        ("Deployment", "leadpulse-inbound-smtp"),
        ("Job", "leadpulse-migrate"),
        ("Service", "leadpulse-web"),
        ("Service", "leadpulse-inbound-smtp"),
        ("PersistentVolumeClaim", "leadpulse-mail"),
        ("ConfigMap", "leadpulse-config"),
    } <= kinds
    config = next(doc for doc in docs if doc["kind"] == "ConfigMap")
    for doc in docs:
        if doc["kind"] not in ("Deployment", "Job"):
            continue
        spec = doc["spec"]["template"]["spec"]
        assert spec["securityContext"]["runAsNonRoot"] is True
        labels = doc["spec"]["template"]["metadata"]["labels"]
        if doc["kind"] == "Deployment":
            assert doc["spec"]["selector"]["matchLabels"] == labels
        [container] = spec["containers"]
        refs = {next(iter(ref.values()))["name"] for ref in container["envFrom"]}
        assert refs == {"leadpulse-config", "leadpulse-secrets"}
        if doc["kind"] == "Deployment":
            assert "readinessProbe" in container and "livenessProbe" in container
    web = next(
        doc for doc in docs if doc["kind"] == "Deployment" and doc["metadata"]["name"] == "leadpulse-web"
    )
    [container] = web["spec"]["template"]["spec"]["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    # the Host header picks the organization: probes must name the root domain
    host = container["readinessProbe"]["httpGet"]["httpHeaders"][0]["value"]
    assert host == config["data"]["BASE_DOMAIN"]
    service = next(
        doc for doc in docs if doc["kind"] == "Service" and doc["metadata"]["name"] == "leadpulse-web"
    )
    assert service["spec"]["selector"] == web["spec"]["selector"]["matchLabels"]
    # inbound email: port 25 to the receiver, probed by TCP, sharing the mail volume with web and worker
    smtp = next(
        doc
        for doc in docs
        if doc["metadata"]["name"] == "leadpulse-inbound-smtp" and doc["kind"] == "Deployment"
    )
    smtp_service = next(
        doc
        for doc in docs
        if doc["metadata"]["name"] == "leadpulse-inbound-smtp" and doc["kind"] == "Service"
    )
    assert smtp_service["spec"]["selector"] == smtp["spec"]["selector"]["matchLabels"]
    [port] = smtp_service["spec"]["ports"]
    assert port["port"] == 25 and port["targetPort"] == "smtp"
    [receiver] = smtp["spec"]["template"]["spec"]["containers"]
    assert receiver["readinessProbe"]["tcpSocket"]["port"] == "smtp" and receiver["args"] == ["inbound-smtp"]
    for name in ("leadpulse-web", "leadpulse-worker", "leadpulse-inbound-smtp"):
        deployment = next(
            doc for doc in docs if doc["kind"] == "Deployment" and doc["metadata"]["name"] == name
        )
        claims = [
            v.get("persistentVolumeClaim", {}).get("claimName")
            for v in deployment["spec"]["template"]["spec"]["volumes"]
        ]
        assert "leadpulse-mail" in claims, name
    assert config["data"]["MAIL_FILES_DIR"] == "/srv/mail"


def test_probe_paths_exist_in_both_urlconfs():
    from django.urls import resolve

    for urlconf in ("config.urls_public", "config.urls_tenant"):
        assert resolve("/healthz", urlconf=urlconf).url_name == "healthz"
        assert resolve("/readyz", urlconf=urlconf).url_name == "readyz"


def test_gunicorn_config_imports_with_uvicorn_workers():
    spec = importlib.util.spec_from_file_location("gunicorn_conf", DEPLOY / "gunicorn.conf.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.worker_class == "uvicorn.workers.UvicornWorker"
    assert module.workers >= 1 and module.max_requests > 0
    importlib.import_module("uvicorn.workers")


def test_dockerfile_copies_files_that_exist_and_runs_as_non_root():
    text = (DEPLOY / "Dockerfile").read_text()
    assert text.startswith("#") and "FROM python:3.11-slim" in text
    assert re.search(r"^USER leadpulse$", text, re.M)
    assert "pip install -r requirements.lock" in text
    for line in re.findall(r"^COPY (.+)$", text, re.M):
        for source in line.split()[:-1]:
            assert (ROOT / source).exists(), source


def test_entrypoint_runs_commands_and_is_valid_shell():
    entrypoint = DEPLOY / "entrypoint.sh"
    assert entrypoint.stat().st_mode & 0o111
    subprocess.run(["sh", "-n", str(entrypoint)], check=True)
    done = subprocess.run(
        [str(entrypoint), "echo", "passed-through"], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "passed-through"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_systemd_units_verify(tmp_path):
    units = sorted((DEPLOY / "systemd").glob("*.service"))
    assert [unit.name for unit in units] == [
        "leadpulse-inbound-smtp.service",
        "leadpulse-scheduler.service",
        "leadpulse-web.service",
        "leadpulse-worker.service",
    ]
    done = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *map(str, units)], capture_output=True, text=True
    )
    # The target machine's paths (/srv/leadpulse) do not exist here; any other complaint is a bug.
    problems = [line for line in done.stderr.splitlines() if line.strip() and "/srv/leadpulse" not in line]
    assert not problems, done.stderr


@pytest.mark.skipif(shutil.which("nginx") is None, reason="nginx is not installed")
def test_nginx_site_passes_nginx_t(tmp_path):
    site = (DEPLOY / "nginx" / "leadpulse.conf").read_text()
    cert = tmp_path / "cert.pem"
    key = tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=example.com",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "1",
        ],
        check=True,
        capture_output=True,
    )
    site = site.replace("/etc/letsencrypt/live/example.com/fullchain.pem", str(cert))
    site = site.replace("/etc/letsencrypt/live/example.com/privkey.pem", str(key))
    conf = tmp_path / "nginx.conf"
    conf.write_text(
        f"pid {tmp_path}/nginx.pid; error_log {tmp_path}/error.log; events {{}}\n"
        f"http {{ access_log off; {site} }}\n"
    )
    done = subprocess.run(
        ["nginx", "-t", "-c", str(conf), "-p", str(tmp_path)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr


def test_nginx_site_serves_the_root_and_wildcard_and_streams_sse():
    site = (DEPLOY / "nginx" / "leadpulse.conf").read_text()
    assert "server_name example.com *.example.com;" in site
    assert "proxy_set_header Host $host;" in site
    # the client's own X-Forwarded-For is replaced, not appended to (it would choose its throttling identity)
    assert "proxy_set_header X-Forwarded-For $remote_addr;" in site
    assert "$proxy_add_x_forwarded_for" not in site
    stream = site[site.index("location /api/pipeline/stream") :]
    assert "proxy_buffering off;" in stream[: stream.index("}")]


# The oldest Kubernetes the manifests promise to work on, and the newest whose schema the package bundles.
K8S_VERSIONS = ("1.30.0", "latest")


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_k8s_manifests_validate_against_the_kubernetes_schema(version):
    """Every document against the official JSON schema (bundled offline by kubernetes-validate), strictly:
    a misspelt field is an error, not something the API server silently drops."""
    import kubernetes_validate

    version = kubernetes_validate.latest_version() if version == "latest" else version
    docs = k8s_documents()
    assert len(docs) >= 6
    for doc in docs:
        kubernetes_validate.validate(doc, version, strict=True)


@pytest.mark.parametrize(
    ("spoil", "message"),
    [
        (lambda web: web["spec"].update(replica=2), "'replica' was unexpected"),
        (
            lambda web: web["spec"]["template"]["spec"]["containers"][0].update(
                ports=[{"containerPort": "80"}]
            ),
            "is not of type 'integer'",
        ),
    ],
)
def test_the_schema_check_catches_a_misspelt_field_or_a_wrong_type(spoil, message):
    import kubernetes_validate

    web = next(doc for doc in k8s_documents() if doc["kind"] == "Deployment")
    spoil(web)
    with pytest.raises(kubernetes_validate.ValidationError, match=re.escape(message)):
        kubernetes_validate.validate(web, kubernetes_validate.latest_version(), strict=True)


def _server_url(database: str) -> str:
    """A URL for `database` on the server the tests use (TCP or the embedded server's Unix socket)."""
    from django.conf import settings

    server = settings.DATABASES["default"]
    credentials = server["USER"] + (f":{server['PASSWORD']}" if server["PASSWORD"] else "")
    if server["HOST"].startswith("/"):
        return f"postgres://{credentials}@/{database}?host={server['HOST']}"
    return f"postgres://{credentials}@{server['HOST']}:{server['PORT'] or 5432}/{database}"


def test_entrypoint_migrate_sets_up_a_fresh_database(tmp_path):
    """The image's `migrate` step, as the compose file and the k8s Job run it, against a new, empty database
    on the local server (made and dropped here): public schema migrated, the template schema made, and a
    second run (the next release) has nothing to do."""
    import uuid

    import psycopg
    from django.conf import settings

    name = f"lp_entrypoint_{uuid.uuid4().hex[:10]}"
    admin = psycopg.connect(
        psycopg.conninfo.make_conninfo(**_libpq(_server_url("postgres"))), autocommit=True
    )
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("DJANGO_", "TEST_", "OTEL_", "PYTEST"))
        }
        env.update(
            PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
            DJANGO_SETTINGS_MODULE="config.settings.production",
            SECRET_KEY="entrypoint-test-" + "x" * 50,
            BASE_DOMAIN="example.test",
            DATABASE_URL=_server_url(name),
            REDIS_URL=settings.CACHES["default"]["LOCATION"],
            LOG_FORMAT="plain",
            HOME=str(tmp_path),
        )
        for _ in range(2):
            done = subprocess.run(
                [str(DEPLOY / "entrypoint.sh"), "migrate"],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                timeout=300,
            )
            assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
            assert "Platform schema, template and organizations are migrated." in done.stdout

        with psycopg.connect(psycopg.conninfo.make_conninfo(**_libpq(_server_url(name)))) as db:
            applied = db.execute("SELECT count(*) FROM public.django_migrations").fetchone()
            assert applied is not None and applied[0] > 20
            template = settings.TENANT_BASE_SCHEMA
            rows = db.execute(
                "SELECT schema_name FROM public.organizations_organization WHERE schema_name = %s", [template]
            ).fetchall()
            assert rows == [(template,)]
            tables = {
                row[0]
                for row in db.execute(
                    "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", [template]
                )
            }
            assert {"leads_lead", "users_user", "django_migrations"} <= tables
            assert "leads_lead" not in {
                row[0]
                for row in db.execute(
                    "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
                )
            }
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def _libpq(url: str) -> dict[str, str]:
    from config.dburl import database_from_url

    parsed = database_from_url(url)
    params = {"dbname": parsed["NAME"], "user": parsed["USER"], "host": parsed["HOST"]}
    if parsed["PORT"]:
        params["port"] = parsed["PORT"]
    if parsed["PASSWORD"]:
        params["password"] = parsed["PASSWORD"]
    return params
