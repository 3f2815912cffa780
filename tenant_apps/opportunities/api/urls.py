from django.urls import path

from tenant_apps.opportunities.api import pipelines, views

urlpatterns = [
    path("opportunities/", views.OpportunityListView.as_view(), name="opportunities"),
    path("opportunities/<int:opportunity_id>/", views.OpportunityDetailView.as_view(), name="opportunity"),
    path(
        "opportunities/<int:opportunity_id>/restore/",
        views.OpportunityRestoreView.as_view(),
        name="opportunity-restore",
    ),
    path(
        "opportunities/<int:opportunity_id>/stage/",
        views.OpportunityStageView.as_view(),
        name="opportunity-stage",
    ),
    path(
        "opportunities/<int:opportunity_id>/stage-history/",
        views.OpportunityStageHistoryView.as_view(),
        name="opportunity-stage-history",
    ),
    path(
        "opportunities/<int:opportunity_id>/notes/",
        views.OpportunityNotesView.as_view(),
        name="opportunity-notes",
    ),
    path(
        "opportunities/<int:opportunity_id>/activities/",
        views.OpportunityActivitiesView.as_view(),
        name="opportunity-activities",
    ),
    path("pipelines/", pipelines.PipelineListView.as_view(), name="pipelines"),
    path("pipelines/<int:pipeline_id>/", pipelines.PipelineDetailView.as_view(), name="pipeline"),
    path("pipelines/<int:pipeline_id>/stages/", pipelines.StageListView.as_view(), name="pipeline-stages"),
    path(
        "pipelines/<int:pipeline_id>/stages/reorder/",
        pipelines.StageReorderView.as_view(),
        name="pipeline-stages-reorder",
    ),
    path(
        "pipelines/<int:pipeline_id>/stages/<int:stage_id>/",
        pipelines.StageDetailView.as_view(),
        name="pipeline-stage",
    ),
    path("lost-reasons/", pipelines.LostReasonListView.as_view(), name="lost-reasons"),
    path("lost-reasons/<int:reason_id>/", pipelines.LostReasonDetailView.as_view(), name="lost-reason"),
    path("settings/lead-stages/", pipelines.LeadStageLabelsView.as_view(), name="lead-stage-labels"),
]
