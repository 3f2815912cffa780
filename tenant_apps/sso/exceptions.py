from shared_apps.core.errors import AppError, Forbidden


class SsoRequired(Forbidden):
    code = "sso_required"
    message = "This organization signs in through single sign-on: use 'Sign in with SSO'."


class SsoFailed(AppError):
    """A sign-in through the provider that cannot be completed; `code` says which check failed."""

    status_code = 400
    code = "sso_failed"
    message = "Single sign-on failed."


class ProviderUnreachable(AppError):
    """The provider could not be reached or answered something unusable (discovery, token, keys)."""

    status_code = 502
    code = "sso_provider_error"
    message = "The identity provider could not be reached or answered something unusable."


class SsoNotAllowed(SsoFailed):
    """The provider vouched for the person, but they may not enter this organization."""

    status_code = 403
