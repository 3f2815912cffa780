"""Provisioning an organization through the platform API, with the pool of spare schemas warm and empty, vs
the schema clone alone.

An operator's `POST /api/platform/organizations/` is sent to a uvicorn process serving `config.asgi` as
deployed (the production password hasher, the pool), on the `<db>_bench` database: the whole operation
(row, schema, primary domain, first admin, audit row) in one transaction. Each round times it twice: with
one spare schema of the template's current state waiting (`spares.py`: the schema is a renamed spare), and
with the pool empty (the schema is cloned, as without the pool). The pool is filled or emptied between
requests, off the timed path, by calling the top-up as a worker would. The baseline, timed in the same run
and interleaved, is `clone_template` of a scratch schema in a transaction that is rolled back (in-process):
what provisioning cost before the pool; beside it the first admin's password hash alone (in-process, the
production hasher): the floor of the warm path, whose other steps run beside the hash. Target (issue 21):
API p50 < 250 ms on an idle machine, with the pool warm. The organizations and the spares are removed
afterwards. Redis: BENCH_PROVISIONING_REDIS_DB (default 10).
"""

from __future__ import annotations

import http.client
import json
import os
import statistics

from bench.common import free_port, own_redis, report, setup_django, start_uvicorn, timer

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "15"))
REDIS_DB = int(os.environ.get("BENCH_PROVISIONING_REDIS_DB", "10"))
TARGET_MS = 250.0
OPERATOR = "bench-operator@platform.example"
PASSWORD = "bench-password-2026"
API = "API, pool warm (a spare renamed)"
COLD = "API, pool empty (cloned)"
CLONE = "clone_template alone (baseline)"
HASH = "admin password hash alone (floor)"


def main() -> None:
    own_redis(REDIS_DB)
    setup_django()
    from django.conf import settings
    from django.contrib.auth.hashers import make_password
    from django.db import transaction

    from shared_apps.core.db import connection
    from shared_apps.organizations.cloning import clone_template
    from shared_apps.organizations.jobs import get_queue
    from shared_apps.organizations.models import Organization, OrganizationStatus
    from shared_apps.organizations.services import organization_delete, organization_purge
    from shared_apps.organizations.spares import spares_top_up
    from shared_apps.users.models import User
    from shared_apps.users.services import token_issue, token_revoke

    connection.set_schema_to_public()
    if not User.objects.filter(email=OPERATOR).exists():
        User.objects.create_superuser(OPERATOR, PASSWORD)
    raw_token, token = token_issue(email=OPERATOR, password=PASSWORD, require_staff=True)

    def cleanup() -> None:
        connection.set_schema_to_public()
        for organization in Organization.objects.filter(slug__regex=r"^bench-p[0-9]+$"):
            if organization.status != OrganizationStatus.DELETED:
                organization = organization_delete(organization=organization)
            organization_purge(organization=organization, confirm=organization.slug)

    class _Rollback(Exception):
        pass

    def clone_alone(index: int) -> None:
        try:
            with transaction.atomic():
                clone_template(f"org_bench_scratch{index}")
                raise _Rollback
        except _Rollback:
            pass

    cleanup()
    port = free_port()
    env = {**os.environ, "DEBUG": "0", "DJANGO_SETTINGS_MODULE": "config.settings.base"}
    server = start_uvicorn(env, port)
    headers = {
        "Host": settings.BASE_DOMAIN,
        "Authorization": f"Bearer {raw_token}",
        "Content-Type": "application/json",
    }

    def provision(index: int) -> None:
        body = {
            "name": f"Bench provisioning {index}",
            "slug": f"bench-p{index}",
            "admin_email": f"admin@bench-p{index}.example",
            "admin_password": "a-long-bench-passphrase",
        }
        # a connection per request: the baseline between two requests may outlast uvicorn's keep-alive
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        try:
            conn.request("POST", "/api/platform/organizations/", body=json.dumps(body), headers=headers)
            response = conn.getresponse()
            payload = response.read()
        finally:
            conn.close()
        if response.status != 201:
            raise RuntimeError(f"provisioning answered {response.status}: {payload[:500]!r}")

    # (the server enqueues a top-up after each provisioning; no worker runs here, the bench tops up itself)
    pool_for = {API: 1, COLD: 0, CLONE: 0, HASH: 0}
    samples: dict[str, list[float]] = {API: [], COLD: [], CLONE: [], HASH: []}

    def hash_alone(index: int) -> None:
        make_password("a-long-bench-passphrase")

    try:
        spares_top_up(wanted=0)  # from a clean pool (a failed earlier run may have left spares)
        provision(900)  # warm-up: the server's first request loads the app and the template capture
        spares_top_up(wanted=1)
        provision(901)
        clone_alone(900)
        for round_ in range(ROUNDS):
            steps = [(API, provision), (COLD, provision), (CLONE, clone_alone), (HASH, hash_alone)]
            for index, (name, step) in enumerate(steps if round_ % 2 == 0 else reversed(steps)):
                spares_top_up(wanted=pool_for[name])
                with timer() as elapsed:
                    step(round_ * len(steps) + index)
                samples[name].append(elapsed())
    finally:
        server.terminate()
        server.wait(timeout=30)
        cleanup()
        spares_top_up(wanted=0)
        get_queue("default").empty()  # the top-ups the server asked for (no worker runs here)
        token_revoke(token=token)

    load = os.getloadavg()
    report(
        f"Provisioning one organization ({ROUNDS} rounds, interleaved; load average {load[0]:.1f})",
        samples,
        baseline=CLONE,
    )
    p50 = statistics.median(samples[API]) * 1000
    verdict = "within" if p50 < TARGET_MS else "OVER"
    print(
        f"\n  API p50 with the pool warm {p50:.0f} ms "
        f"({verdict} the {TARGET_MS:.0f} ms target on an idle machine)"
    )
