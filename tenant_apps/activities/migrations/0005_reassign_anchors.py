"""Merging records moves their timeline to the survivor: let that one kind of UPDATE through.

With `leadpulse.reassign` set to 'on' (SET LOCAL, by the merge and conversion services only) an UPDATE may
change which record an activity is on (lead, contact, account, opportunity) and nothing else: what was
written, by whom and when stays as it was.
"""

from django.db import migrations

FORWARD = """
CREATE OR REPLACE FUNCTION activities_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
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
    RAISE EXCEPTION 'the activity timeline is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
"""

BACKWARD = """
CREATE OR REPLACE FUNCTION activities_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('leadpulse.purge', true) = 'on' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'the activity timeline is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
"""


class Migration(migrations.Migration):
    dependencies = [("activities", "0004_note_activity_account_activity_contact_and_more")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
