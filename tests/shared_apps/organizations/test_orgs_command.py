import json

import pytest
from django.core.management import CommandError, call_command

from shared_apps.organizations.models import Organization


def run(*args: str, capsys) -> list[dict]:
    call_command("orgs", *args)
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]


def test_orgs_command_provisions_suspends_and_lists(public, capsys):
    [created] = run(
        "provision",
        "umbrella",
        "--name",
        "Umbrella",
        "--admin-email",
        "a@umbrella.test",
        "--admin-password",
        "correct-horse-battery",
        capsys=capsys,
    )
    assert created["status"] == "active"
    [suspended] = run("suspend", "umbrella", capsys=capsys)
    assert suspended["status"] == "suspended"
    assert "umbrella" in [row["slug"] for row in run("list", capsys=capsys)]
    assert Organization.objects.get(slug="umbrella").status == "suspended"


def test_orgs_command_reports_domain_errors_without_a_traceback(public):
    with pytest.raises(CommandError, match="reserved_slug"):
        call_command(
            "orgs",
            "provision",
            "www",
            "--name",
            "W",
            "--admin-email",
            "a@w.test",
            "--admin-password",
            "correct-horse-battery",
        )
