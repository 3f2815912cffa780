"""Root domain: the platform, for operators."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from shared_apps.observability import health, metrics
from shared_apps.users.api.views import PlatformTokenView

handler400 = "shared_apps.core.errors.bad_request_view"
handler404 = "shared_apps.core.errors.not_found_view"
handler500 = "shared_apps.core.errors.server_error_view"

urlpatterns = [
    # probes first: answered on every host before any other route (shared_apps/observability/health.py)
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", metrics.metrics_view, name="metrics"),
    path("admin/", admin.site.urls),
    path("api/platform/auth/token/", PlatformTokenView.as_view(), name="platform-token"),
    path("api/platform/me/two-factor/", include("shared_apps.mfa.api.platform_urls")),
    path("api/platform/", include("shared_apps.organizations.api.urls")),
    path("api/platform/", include("shared_apps.audit.api.platform_urls")),
    path("api/schema/", SpectacularAPIView.as_view(urlconf="config.urls_public"), name="schema"),
    path(
        "api/docs/",
        SpectacularSwaggerView.as_view(url_name="schema", http_method_names=["get", "head"]),
        name="docs",
    ),
    # the operator console, after every /api/ route
    path("", include("shared_apps.console.urls")),
]
