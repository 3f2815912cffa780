"""The lead list's serialization (GET /api/leads/, 50 per page), in-process: LeadSerializer(many=True).data
over the 50 newest leads of bench.generate's 5,000-lead organization, with a member's time zone active (as
the API activates it), against a same-run baseline that serializes as the serializer did before issue 21's
change: the stage labels read from the cache for every lead, the time zone looked up for every date-time.
The two outputs are compared first (the change must not alter a byte). Target: serialization p50 <= 3 ms
(the list's budget is 8 ms a request, issue 21)."""

from __future__ import annotations

import json
import os
from typing import Any

from bench.common import own_redis, report, setup_django, timer

ROUNDS = int(os.environ.get("BENCH_SERIALIZER_ROUNDS", "300"))
TARGET_MS = 3.0


def main() -> None:
    own_redis(14)
    setup_django(database_suffix="_webpages_bench")
    from django.utils import timezone
    from django_tenants.utils import schema_context
    from rest_framework import serializers

    from bench.generate import ensure_generated
    from tenant_apps.leads.api.serializers import LeadSerializer
    from tenant_apps.leads.models import Lead
    from tenant_apps.leads.selectors import lead_list
    from tenant_apps.opportunities.stage_labels import lead_stage_labels

    class Baseline(LeadSerializer):
        def to_representation(self, instance: Lead) -> dict[str, Any]:
            return serializers.ModelSerializer.to_representation(self, instance)

        def get_stage_label(self, lead: Lead) -> str:
            return lead_stage_labels().get(lead.stage, lead.stage)

    organization = ensure_generated(leads=5000, activities=25000)
    with schema_context(organization.schema_name):
        timezone.activate("Europe/Paris")
        leads = list(lead_list(actor=None).order_by("-created_at", "-id")[:50])
        new, old = LeadSerializer(leads, many=True).data, Baseline(leads, many=True).data
        assert json.dumps(new, default=str) == json.dumps(old, default=str), "the output changed"
        rows: dict[str, list[float]] = {"baseline: per-lead label and zone reads": [], "LeadSerializer": []}
        for _ in range(ROUNDS):  # interleaved, so both see the same load
            for name, serializer in (
                ("baseline: per-lead label and zone reads", Baseline),
                ("LeadSerializer", LeadSerializer),
            ):
                with timer() as elapsed:
                    serializer(leads, many=True).data  # noqa: B018
                rows[name].append(elapsed())
    report(
        f"Serializing 50 leads (GET /api/leads/ page); target p50 <= {TARGET_MS:.0f} ms",
        rows,
        baseline="baseline: per-lead label and zone reads",
    )
    print(f"\nMachine load (1/5/15 min): {os.getloadavg()}")


if __name__ == "__main__":
    main()
