"""Where two-factor sign-in is required (an organization's rule; TWO_FACTOR_REQUIRED_FOR_OPERATORS on the
root domain): a user signed in with a session who has not set it up reaches only the set-up page, signing
out and static files until they do. Pages redirect to the set-up page; the API answers 403
`two_factor_enrollment_required`. Costs nothing where it is not required (the flag is on the organization
row the routing middleware already holds, or a setting), one query per signed-in request where it is."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse

from shared_apps.mfa.exceptions import EnrollmentRequired
from shared_apps.mfa.services import two_factor_enabled, two_factor_required

SETUP_PAGE = "/settings/two-factor/"
# A session whose sign-in already had a second factor outside LeadPulse (an SSO provider's) carries this key;
# such a session is not sent to the set-up page.
SATISFIED_SESSION_KEY = "two_factor_satisfied_by"
ALLOWED_PREFIXES = (
    SETUP_PAGE,
    "/api/me/two-factor/",
    "/sign-in/",
    "/sign-out/",
    "/api/auth/",
    "/api/platform/auth/",
    "/api/platform/me/two-factor/",
    "/static/",
    "/healthz",
    "/readyz",
)


class TwoFactorEnrollmentMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if self._must_enrol(request):
            error = EnrollmentRequired()
            if request.path.startswith("/api/"):
                return JsonResponse(error.as_body(), status=error.status_code)
            return HttpResponseRedirect(SETUP_PAGE)
        return self.get_response(request)

    @staticmethod
    def _must_enrol(request: HttpRequest) -> bool:
        if not two_factor_required():
            return False
        if request.path.startswith(ALLOWED_PREFIXES):
            return False
        user = request.user
        if not user.is_authenticated or request.session.get(SATISFIED_SESSION_KEY):
            return False
        return not two_factor_enabled(user)
