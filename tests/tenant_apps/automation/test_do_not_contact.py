"""A rule's enroll_in_sequence leaves a listed address alone: the run succeeds and says so."""

from tenant_apps.automation.models import RuleRun, RunStatus
from tenant_apps.privacy.services import suppress
from tenant_apps.sequences.models import Enrollment
from tenant_apps.sequences.services import sequence_create

from .conftest import rule_entries
from .test_rule_actions import created_lead


def test_a_rule_does_not_enroll_a_listed_lead(in_org, admin, make_rule, committing, process):
    sequence = sequence_create(actor=admin, name="Welcome", steps=[{"subject": "Hi", "body": "Hello"}])
    rule = make_rule({"type": "lead_created"}, [{"type": "enroll_in_sequence", "sequence": sequence.pk}])
    suppress("gone@example.com", "unsubscribed")
    lead = created_lead(admin, committing, process, email="gone@example.com", allow_do_not_contact=True)
    assert not Enrollment.objects.filter(lead=lead).exists()
    assert RuleRun.objects.get(rule=rule, lead_id=lead.pk).status == RunStatus.DONE
    [entry] = rule_entries(lead)
    assert (entry["action"], entry["outcome"]) == ("enroll_in_sequence", "do_not_contact")
