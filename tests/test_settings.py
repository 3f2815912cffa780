import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_deploy_checks_pass_with_production_settings():
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "SECRET_KEY": "x" * 64 + "-production-secret-for-the-check",
        "BASE_DOMAIN": "leadpulse.example",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_allowed_hosts_follow_the_base_domain():
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.base", "BASE_DOMAIN": "Crm.Example.COM"}
    code = "from django.conf import settings; print(settings.ALLOWED_HOSTS)"
    result = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == "['crm.example.com', '.crm.example.com']"


def test_databases_extra_names_each_database_and_refuses_what_it_cannot_read():
    import pytest

    from config.dburl import databases_extra

    parsed = databases_extra("east=postgres://u@db-east:5433/crm, west=postgres://u@/crm?host=/run/pg")
    assert sorted(parsed) == ["east", "west"]
    assert (parsed["east"]["HOST"], parsed["east"]["PORT"], parsed["east"]["NAME"]) == (
        "db-east",
        "5433",
        "crm",
    )
    assert parsed["west"]["HOST"] == "/run/pg"
    assert databases_extra("") == {}
    for bad in (
        "postgres://nohost",
        "default=postgres://x/y",
        "primary=postgres://x/y",
        "9east=postgres://x/y",
    ):
        with pytest.raises(ValueError, match="DATABASES_EXTRA"):
            databases_extra(bad)
