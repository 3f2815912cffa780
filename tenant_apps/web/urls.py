from django.urls import path, register_converter

from tenant_apps.leads.models import Stage
from tenant_apps.tasks.models import TaskStatus
from tenant_apps.web.views import (
    account,
    audit,
    auth,
    currency_settings,
    custom_fields_settings,
    dashboard,
    deal_bulk,
    deal_table,
    deals,
    imports,
    lead_bulk,
    lead_email,
    leads,
    mail_settings,
    mailbox,
    onboarding,
    pipeline,
    pipeline_settings,
    profile,
    record_edit,
    records,
    search,
    settings_pages,
    tasks,
    two_factor,
    unsubscribe,
)


class IdConverter:
    """A record id: at most 18 digits, so no lookup can overflow a bigint."""

    regex = "[0-9]{1,18}"

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value: int) -> str:
        return str(value)


class KindConverter:
    regex = "accounts|contacts|opportunities"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


class StageConverter:
    """A lead stage's code (NEW, CONTACTED, ...): anything else matches no route."""

    regex = "|".join(Stage.values)

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(IdConverter, "web_id")
register_converter(StageConverter, "web_stage")
register_converter(KindConverter, "web_kind")

app_name = "web"

urlpatterns = [
    path("sign-in/", auth.sign_in, name="sign-in"),
    path("sign-out/", auth.sign_out, name="sign-out"),
    path("password/", auth.password_change, name="password"),
    path("settings/time-zone/", profile.time_zone, name="time-zone"),
    path("sign-in/two-factor/", two_factor.sign_in_second_step, name="sign-in-two-factor"),
    path("settings/two-factor/", two_factor.two_factor_settings, name="two-factor"),
    # the account lifecycle (tenant_apps/web/views/account.py)
    path("invitations/<str:token>/", account.invitation_accept, name="invitation-accept"),
    path("password-reset/", account.password_reset, name="password-reset"),
    path(
        "password-reset/<str:uidb64>/<str:token>/",
        account.password_reset_confirm,
        name="password-reset-confirm",
    ),
    path("settings/email-change/<str:token>/", account.email_confirm, name="email-confirm"),
    # the unsubscribe link of automated email (no sign-in; tenant_apps/web/views/unsubscribe.py)
    path("u/<str:token>/", unsubscribe.unsubscribe_page, name="unsubscribe"),
    path("settings/security/", account.security, name="security"),
    path(
        "settings/security/sessions/<web_id:session_id>/end/",
        account.security_session_end,
        name="security-session-end",
    ),
    path(
        "settings/security/sessions/end-others/",
        account.security_sessions_end_others,
        name="security-sessions-end-others",
    ),
    path(
        "settings/security/tokens/<web_id:token_id>/revoke/",
        account.security_token_revoke,
        name="security-token-revoke",
    ),
    path("settings/", settings_pages.settings_index, name="settings"),
    path("settings/api-keys/", settings_pages.api_keys, name="api-keys"),
    path("settings/api-keys/<web_id:key_id>/revoke/", settings_pages.api_key_revoke, name="api-key-revoke"),
    path("settings/webhooks/", settings_pages.webhooks, name="webhooks"),
    path("settings/webhooks/<web_id:endpoint_id>/", settings_pages.webhook_detail, name="webhook"),
    path("settings/members/", account.members_page, name="members"),
    path(
        "settings/invitations/<web_id:invitation_id>/resend/",
        account.invitation_action,
        {"action": "resent"},
        name="invitation-resend",
    ),
    path(
        "settings/invitations/<web_id:invitation_id>/revoke/",
        account.invitation_action,
        {"action": "revoked"},
        name="invitation-revoke",
    ),
    path(
        "settings/members/<web_id:member_id>/sessions/end/",
        account.member_sessions_end,
        name="member-sessions-end",
    ),
    path("", dashboard.dashboard, name="dashboard"),
    path("search/suggest/", search.search_suggest, name="search-suggest"),
    path("onboarding/sample-data/", onboarding.sample_data, name="sample-data"),
    path("pipeline/", pipeline.pipeline, name="pipeline"),
    path("deals/board/", deals.deals_board, name="deals-board"),
    path("deals/board/move/<web_id:opportunity_id>/", deals.deal_move, name="deal-move"),
    # the deal table (before the record kinds' routes: /opportunities/ is the table)
    path("opportunities/", deal_table.deal_list, name="deals"),
    path("deals/columns/", deal_table.deal_columns, name="deal-columns"),
    path("deals/bulk/", deal_bulk.deal_bulk, name="deal-bulk"),
    path("deals/trash/", deal_bulk.deal_trash, name="deal-trash"),
    path("deals/<web_id:opportunity_id>/restore/", deal_bulk.deal_restore, name="deal-restore"),
    path("settings/pipelines/", pipeline_settings.pipeline_settings, name="pipeline-settings"),
    path(
        "settings/custom-fields/",
        custom_fields_settings.custom_field_settings,
        name="custom-field-settings",
    ),
    path("settings/custom-fields/add/", custom_fields_settings.custom_field_add, name="custom-field-add"),
    path(
        "settings/custom-fields/<web_id:field_id>/",
        custom_fields_settings.custom_field_edit,
        name="custom-field-edit",
    ),
    path("settings/pipelines/add/", pipeline_settings.pipeline_add, name="pipeline-add"),
    path("settings/pipelines/<web_id:pipeline_id>/", pipeline_settings.pipeline_edit, name="pipeline-edit"),
    path(
        "settings/pipelines/<web_id:pipeline_id>/stages/add/",
        pipeline_settings.stage_add,
        name="pipeline-stage-add",
    ),
    path(
        "settings/pipelines/<web_id:pipeline_id>/stages/<web_id:stage_id>/",
        pipeline_settings.stage_edit,
        name="pipeline-stage-edit",
    ),
    path("settings/lost-reasons/add/", pipeline_settings.lost_reason_add, name="lost-reason-add"),
    path(
        "settings/lost-reasons/<web_id:reason_id>/",
        pipeline_settings.lost_reason_edit,
        name="lost-reason-edit",
    ),
    path("settings/lead-stages/", pipeline_settings.lead_stage_labels_save, name="lead-stage-labels"),
    path("pipeline/summary/", pipeline.pipeline_summary, name="pipeline-summary"),
    path("pipeline/columns/<web_stage:stage>/", pipeline.pipeline_column, name="pipeline-column"),
    path("pipeline/cards/<web_id:lead_id>/", pipeline.pipeline_card, name="pipeline-card"),
    path("leads/", leads.lead_list, name="leads"),
    path("leads/new/", leads.lead_create, name="lead-create"),
    path("leads/bulk/", lead_bulk.lead_bulk, name="lead-bulk"),
    path("leads/columns/", lead_bulk.lead_columns, name="lead-columns"),
    path("leads/trash/", lead_bulk.lead_trash, name="lead-trash"),
    path("leads/<web_id:lead_id>/restore/", lead_bulk.lead_restore, name="lead-restore"),
    path("leads/<web_id:lead_id>/", leads.lead_detail, name="lead"),
    path("leads/<web_id:lead_id>/timeline/", leads.lead_timeline, name="lead-timeline"),
    path("leads/<web_id:lead_id>/edit/", leads.lead_edit, name="lead-edit"),
    path("leads/<web_id:lead_id>/move/", leads.lead_move, name="lead-move"),
    path("leads/<web_id:lead_id>/notes/", leads.lead_note, name="lead-note"),
    path("leads/<web_id:lead_id>/calls/", leads.lead_call, name="lead-call"),
    path("leads/<web_id:lead_id>/emails/send/", lead_email.lead_email_send, name="lead-email-send"),
    path("leads/<web_id:lead_id>/assign/", leads.lead_assign, name="lead-assign"),
    path("leads/<web_id:lead_id>/tasks/", leads.lead_task, name="lead-task"),
    path("leads/<web_id:lead_id>/convert/", record_edit.lead_convert_page, name="lead-convert"),
    path("leads/<web_id:lead_id>/log/", record_edit.lead_log, name="lead-log"),
    path("imports/", imports.import_list, name="imports"),
    path("imports/upload/", imports.import_upload, name="import-upload"),
    path("settings/audit-log/", audit.audit_log, name="audit-log"),
    path("settings/currency/", currency_settings.currency_settings, name="currency-settings"),
    path("settings/currency/rates/", currency_settings.rate_add, name="currency-rate-add"),
    path("settings/currency/import/", currency_settings.rates_import, name="currency-rates-import"),
    path("settings/currency/base/", currency_settings.base_currency_change, name="currency-base"),
    path("settings/email/", mail_settings.email_settings, name="email-settings"),
    path("settings/mailbox/", mailbox.mailbox, name="mailbox"),
    path("settings/mailbox/connect/", mailbox.mailbox_connect, name="mailbox-connect"),
    path("settings/mailbox/disconnect/", mailbox.mailbox_disconnect, name="mailbox-disconnect"),
    path("settings/email/save/", mail_settings.email_settings_save, name="email-settings-save"),
    path("settings/email/smtp/", mail_settings.email_settings_smtp_save, name="email-settings-smtp"),
    path(
        "settings/email/smtp-test/", mail_settings.email_settings_smtp_test, name="email-settings-smtp-test"
    ),
    path("tasks/", tasks.task_list, name="tasks"),
    path("tasks/new/", record_edit.task_create, name="task-create"),
    path("tasks/<web_id:task_id>/edit/", record_edit.task_edit, name="task-edit"),
    path(
        "tasks/<web_id:task_id>/complete/",
        tasks.task_status,
        {"to_status": TaskStatus.DONE},
        name="task-complete",
    ),
    path(
        "tasks/<web_id:task_id>/reopen/",
        tasks.task_status,
        {"to_status": TaskStatus.OPEN},
        name="task-reopen",
    ),
    path(
        "contacts/<web_id:record_id>/emails/send/", record_edit.contact_email_send, name="contact-email-send"
    ),
    path("<web_kind:kind>/", records.record_list, name="records"),
    path("<web_kind:kind>/new/", record_edit.record_create, name="record-create"),
    path("<web_kind:kind>/<web_id:record_id>/edit/", record_edit.record_edit, name="record-edit"),
    path("<web_kind:kind>/<web_id:record_id>/log/", record_edit.record_log, name="record-log"),
    path("<web_kind:kind>/<web_id:record_id>/", records.record_detail, name="record"),
    path("<web_kind:kind>/<web_id:record_id>/timeline/", records.record_timeline, name="record-timeline"),
    path("<web_kind:kind>/<web_id:record_id>/notes/", records.record_note, name="record-note"),
]
