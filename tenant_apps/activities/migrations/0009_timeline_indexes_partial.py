from django.contrib.postgres.operations import AddIndexConcurrently, RemoveIndexConcurrently
from django.db import migrations, models


def _on(field: str, name: str) -> models.Index:
    return models.Index(
        condition=models.Q((f"{field}__isnull", False)), fields=[field, "-created_at", "-id"], name=name
    )


class Migration(migrations.Migration):
    # A contact's, an account's and a deal's timeline indexes over the activities on such a record only: most
    # activities are on a lead alone, and each of them wrote a NULL entry into all three (three b-tree inserts
    # per activity, 38 MB each per million activities). The queries name the record (`account_id = ...`, an
    # IN list, a join), which implies the predicate, so they read the partial indexes as they read the whole
    # ones. The new indexes are built before the old ones go, CONCURRENTLY (no write waits; atomic = False);
    # a build interrupted halfway leaves an INVALID index that a re-run does not repair: drop it and re-run.
    atomic = False

    dependencies = [
        ("activities", "0008_redact_switch"),
    ]

    operations = [
        AddIndexConcurrently(model_name="activity", index=_on("contact", "activity_contact_time_idx")),
        AddIndexConcurrently(model_name="activity", index=_on("account", "activity_account_time_idx")),
        AddIndexConcurrently(model_name="activity", index=_on("opportunity", "activity_opp_time_idx")),
        RemoveIndexConcurrently(model_name="activity", name="activity_contact_created_idx"),
        RemoveIndexConcurrently(model_name="activity", name="activity_account_created_idx"),
        RemoveIndexConcurrently(model_name="activity", name="activity_opp_created_idx"),
    ]
