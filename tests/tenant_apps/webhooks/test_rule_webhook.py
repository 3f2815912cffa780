from shared_apps.core.events import DomainEvent
from tenant_apps.webhooks.models import pattern_is_known
from tenant_apps.webhooks.outbox import webhook_event_of


def test_a_rules_send_webhook_action_is_a_subscribable_event_about_its_lead():
    assert pattern_is_known("rule.webhook") and pattern_is_known("rule.*")
    event = DomainEvent(topic="rule.webhook", record_id=7, schema_name="org_acme", data={"rule_id": 3})
    event_type, record, data = webhook_event_of(event)
    assert (event_type, record, data["rule_id"]) == ("rule.webhook", {"type": "lead", "id": 7}, 3)
