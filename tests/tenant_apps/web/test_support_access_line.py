"""The admins' members page shows the operators' support visits (shared_apps.organizations.support)."""

from shared_apps.organizations import support

REASON = "Ticket 99: imports stuck in preparing"


def test_the_members_page_shows_support_visits(web, org, operator):
    admin_page = web("admin")
    assert "No support visits." in admin_page.get("/settings/members/").content.decode()
    support.support_session_open(organization=org, operator=operator, reason=REASON, minutes=20)
    body = admin_page.get("/settings/members/").content.decode()
    assert operator.email in body and REASON in body and "may read this organization until" in body
