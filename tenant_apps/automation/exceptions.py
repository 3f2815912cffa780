from shared_apps.core.errors import Forbidden, NotFound


class RuleNotFound(NotFound):
    code = "rule_not_found"
    message = "No such rule."


class ScoringRuleNotFound(NotFound):
    code = "scoring_rule_not_found"
    message = "No such scoring rule."


class AutomationForbidden(Forbidden):
    code = "automation_forbidden"
    message = "Only admins and managers change rules, routing and scoring."
