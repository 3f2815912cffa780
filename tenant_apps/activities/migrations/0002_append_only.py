"""The timeline cannot be rewritten: the database refuses UPDATE, DELETE and TRUNCATE on activities.

One escape hatch exists, for the explicit purge of a lead (which must take its timeline with it): a
DELETE is let through when the transaction has set `leadpulse.purge` to 'on' (SET LOCAL, so it ends with
the transaction). No API reaches it except the purge service.
"""

from django.db import migrations

FORWARD = """
CREATE FUNCTION activities_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('leadpulse.purge', true) = 'on' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'the activity timeline is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER activities_no_update_or_delete
    BEFORE UPDATE OR DELETE ON activities_activity
    FOR EACH ROW EXECUTE FUNCTION activities_append_only();
CREATE TRIGGER activities_no_truncate
    BEFORE TRUNCATE ON activities_activity
    FOR EACH STATEMENT EXECUTE FUNCTION activities_append_only();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS activities_no_truncate ON activities_activity;
DROP TRIGGER IF EXISTS activities_no_update_or_delete ON activities_activity;
DROP FUNCTION IF EXISTS activities_append_only();
"""


class Migration(migrations.Migration):
    dependencies = [("activities", "0001_initial")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
