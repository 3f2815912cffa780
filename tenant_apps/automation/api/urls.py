from django.urls import path

from tenant_apps.automation.api import views

urlpatterns = [
    path("rules/", views.RuleListView.as_view(), name="rules"),
    path("rules/<int:rule_id>/", views.RuleDetailView.as_view(), name="rule"),
    path("rules/<int:rule_id>/runs/", views.RuleRunsView.as_view(), name="rule-runs"),
    path("routing/", views.RoutingView.as_view(), name="routing"),
    path("scoring-rules/", views.ScoringRuleListView.as_view(), name="scoring-rules"),
    path("scoring-rules/<int:scoring_rule_id>/", views.ScoringRuleDetailView.as_view(), name="scoring-rule"),
    path("leads/<int:lead_id>/score/", views.LeadScoreView.as_view(), name="lead-score"),
]
