"""An organization's host: its members' API."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from shared_apps.mfa.api.views import TwoFactorRequirementView, TwoFactorResetView
from shared_apps.observability import health
from shared_apps.organizations.api.settings import OrganizationSettingsView, SupportAccessView
from shared_apps.users.api import lifecycle, members
from shared_apps.users.api.views import MeView, SignOutView, TokenView

handler400 = "shared_apps.core.errors.bad_request_view"
handler404 = "shared_apps.core.errors.not_found_view"
handler500 = "shared_apps.core.errors.server_error_view"

urlpatterns = [
    # probes first: answered on every host before any other route (shared_apps/observability/health.py)
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("api/auth/token/", TokenView.as_view(), name="token"),
    path("api/auth/sign-out/", SignOutView.as_view(), name="sign-out"),
    path("api/me/", MeView.as_view(), name="me"),
    path("api/me/two-factor/", include("shared_apps.mfa.api.urls")),
    path("api/settings/two-factor/", TwoFactorRequirementView.as_view(), name="two-factor-requirement"),
    path("api/members/", members.MemberListView.as_view(), name="members"),
    path("api/members/<int:member_id>/", members.MemberDetailView.as_view(), name="member"),
    path(
        "api/members/<int:member_id>/deactivate/",
        members.MemberDeactivateView.as_view(),
        name="member-deactivate",
    ),
    path(
        "api/members/<int:member_id>/reactivate/",
        members.MemberReactivateView.as_view(),
        name="member-reactivate",
    ),
    path("api/settings/organization/", OrganizationSettingsView.as_view(), name="organization-settings"),
    path("api/settings/support-access/", SupportAccessView.as_view(), name="support-access"),
    path(
        "api/members/<int:member_id>/two-factor/reset/",
        TwoFactorResetView.as_view(),
        name="member-two-factor-reset",
    ),
    path(
        "api/members/<int:member_id>/sessions/end/",
        lifecycle.MemberSessionsEndView.as_view(),
        name="member-sessions-end",
    ),
    path("api/invitations/", lifecycle.InvitationListView.as_view(), name="invitations"),
    path(
        "api/invitations/<int:invitation_id>/resend/",
        lifecycle.InvitationResendView.as_view(),
        name="invitation-resend",
    ),
    path(
        "api/invitations/<int:invitation_id>/revoke/",
        lifecycle.InvitationRevokeView.as_view(),
        name="invitation-revoke",
    ),
    path("api/auth/password-reset/", lifecycle.PasswordResetView.as_view(), name="password-reset"),
    path(
        "api/auth/password-reset/confirm/",
        lifecycle.PasswordResetConfirmView.as_view(),
        name="password-reset-confirm",
    ),
    path("api/me/password/", lifecycle.PasswordChangeView.as_view(), name="me-password"),
    path("api/me/email/", lifecycle.EmailChangeView.as_view(), name="me-email"),
    path("api/me/sessions/", lifecycle.MeSessionsView.as_view(), name="me-sessions"),
    path("api/me/sessions/<int:session_id>/", lifecycle.MeSessionView.as_view(), name="me-session"),
    path("api/me/tokens/", lifecycle.MeTokensView.as_view(), name="me-tokens"),
    path("api/me/tokens/<int:token_id>/", lifecycle.MeTokenView.as_view(), name="me-token"),
    path("api/api-keys/", members.ApiKeyListView.as_view(), name="api-keys"),
    path("api/api-keys/<int:key_id>/revoke/", members.ApiKeyRevokeView.as_view(), name="api-key-revoke"),
    path("api/", include("tenant_apps.leads.api.urls")),
    path("api/", include("tenant_apps.activities.api.urls")),
    path("api/", include("tenant_apps.accounts.api.urls")),
    path("api/", include("tenant_apps.contacts.api.urls")),
    path("api/", include("tenant_apps.opportunities.api.urls")),
    path("api/", include("tenant_apps.tasks.api.urls")),
    path("api/", include("tenant_apps.segments.api.urls")),
    path("api/", include("tenant_apps.dedupe.api.urls")),
    path("api/", include("tenant_apps.search.api.urls")),
    path("api/", include("tenant_apps.notifications.api.urls")),
    path("api/", include("tenant_apps.reminders.api.urls")),
    path("api/", include("tenant_apps.sequences.api.urls")),
    path("api/", include("tenant_apps.currency.api.urls")),
    path("api/", include("tenant_apps.customfields.api.urls")),
    path("api/", include("tenant_apps.analytics.api.urls")),
    path("api/", include("tenant_apps.webhooks.api.urls")),
    path("api/", include("tenant_apps.automation.api.urls")),
    path("api/", include("tenant_apps.realtime.urls")),
    path("api/", include("tenant_apps.imports.api.urls")),
    path("api/", include("tenant_apps.privacy.api.urls")),
    path("api/", include("shared_apps.audit.api.urls")),
    path("api/", include("tenant_apps.sso.api.urls")),
    path("api/", include("tenant_apps.mail.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(urlconf="config.urls_tenant"), name="schema"),
    path(
        "api/docs/",
        SpectacularSwaggerView.as_view(url_name="schema", http_method_names=["get", "head"]),
        name="docs",
    ),
    # single sign-on's browser routes (/sso/login/, /sso/callback/) and its settings page
    path("", include("tenant_apps.sso.urls")),
    # the web app, after every /api/ route
    path("", include("tenant_apps.web.urls")),
]
