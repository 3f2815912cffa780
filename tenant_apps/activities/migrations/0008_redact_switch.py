"""Erasing a person (tenant_apps.privacy) redacts what the timeline says about them, in place: let that one
kind of UPDATE through.

With `leadpulse.redact` set to 'on' (SET LOCAL, by the erasure service only) an UPDATE may change an
activity's subject, body, metadata and email ids (Message-IDs often carry a name or an address: the service
replaces them with digests, the same id always by the same digest, so threads stay threads) and nothing
else: the entry stays, of the same type, by the same actor, at the same moments, on the same records, so the
timeline keeps the fact that something happened without the personal data.
"""

from django.db import migrations

REASSIGN_OR_PURGE = """
    IF TG_OP = 'DELETE' AND current_setting('leadpulse.purge', true) = 'on' THEN
        RETURN OLD;
    END IF;
    IF TG_OP = 'UPDATE' AND current_setting('leadpulse.reassign', true) = 'on'
       AND NEW.id = OLD.id AND NEW.type = OLD.type AND NEW.subject = OLD.subject AND NEW.body = OLD.body
       AND NEW.metadata = OLD.metadata AND NEW.actor_id IS NOT DISTINCT FROM OLD.actor_id
       AND NEW.occurred_at = OLD.occurred_at AND NEW.created_at = OLD.created_at
       AND NEW.message_id = OLD.message_id AND NEW.thread_id = OLD.thread_id THEN
        RETURN NEW;
    END IF;
"""

REDACT = """
    IF TG_OP = 'UPDATE' AND current_setting('leadpulse.redact', true) = 'on'
       AND NEW.id = OLD.id AND NEW.type = OLD.type AND NEW.actor_id IS NOT DISTINCT FROM OLD.actor_id
       AND NEW.occurred_at = OLD.occurred_at AND NEW.created_at = OLD.created_at
       AND NEW.lead_id IS NOT DISTINCT FROM OLD.lead_id AND NEW.contact_id IS NOT DISTINCT FROM OLD.contact_id
       AND NEW.account_id IS NOT DISTINCT FROM OLD.account_id
       AND NEW.opportunity_id IS NOT DISTINCT FROM OLD.opportunity_id THEN
        RETURN NEW;
    END IF;
"""


def function(*parts: str) -> str:
    return (
        "CREATE OR REPLACE FUNCTION activities_append_only() RETURNS trigger LANGUAGE plpgsql AS $$\nBEGIN"
        + "".join(parts)
        + """    RAISE EXCEPTION 'the activity timeline is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
"""
    )


class Migration(migrations.Migration):
    dependencies = [("activities", "0007_activity_search")]

    operations = [migrations.RunSQL(function(REASSIGN_OR_PURGE, REDACT), function(REASSIGN_OR_PURGE))]
