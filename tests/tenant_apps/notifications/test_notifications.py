from django.core import mail
from django_tenants.utils import schema_context

from shared_apps.users.models import Role
from tenant_apps.notifications.models import Notification
from tenant_apps.notifications.services import notify
from tests.conftest import client_for


def test_notify_is_idempotent_per_key_and_emails_once(org, member, django_capture_on_commit_callbacks):
    rep = member(role=Role.REP)
    with schema_context(org.schema_name), django_capture_on_commit_callbacks(execute=True):
        first = notify(recipient=rep, kind="task.due", title="Call Jane", key="task-due:7", email=True)
        again = notify(recipient=rep, kind="task.due", title="Call Jane", key="task-due:7", email=True)
    assert first.pk == again.pk
    assert [message.subject for message in mail.outbox] == ["[LeadPulse] Call Jane"]
    assert mail.outbox[0].to == [rep.email]


def test_members_see_only_their_own_notifications_and_mark_them_read(org, other_org, member):
    rep, other = member(role=Role.REP), member(role=Role.REP)
    with schema_context(org.schema_name):
        notify(recipient=rep, kind="x", title="mine")
        notify(recipient=other, kind="x", title="not mine")
    client = client_for(org, rep)
    assert [row["title"] for row in client.get("/api/notifications/").json()["results"]] == ["mine"]
    assert client.post("/api/notifications/read/", {}, format="json").json() == {"marked_read": 1}
    assert client.get("/api/notifications/?unread=true").json()["results"] == []
    with schema_context(org.schema_name):
        assert Notification.objects.get(title="not mine").read_at is None
    assert client.post("/api/notifications/read/", {"ids": ["x"]}, format="json").status_code == 400
