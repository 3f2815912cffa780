from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from shared_apps.audit.services import audit_record
from shared_apps.http.api import ERRORS, OrganizationView, parse
from shared_apps.users.models import Role
from tenant_apps.sso import selectors, services
from tenant_apps.sso.api.serializers import SsoConfigSerializer, SsoConfigUpdateSerializer
from tenant_apps.sso.models import SsoConfig
from tenant_apps.sso.views import callback_url, signed_in_with_sso


class SsoSettingsView(OrganizationView):
    """The organization's single sign-on (OpenID Connect): admins only; the client secret is never
    returned."""

    resource = "sso"
    read_role = Role.ADMIN
    write_role = Role.ADMIN
    manages_access = True

    def _render(self, config: SsoConfig) -> Response:
        context = {"redirect_uri": callback_url(self.request._request)}
        return Response(SsoConfigSerializer(config, context=context).data)

    @extend_schema(responses={200: SsoConfigSerializer, **ERRORS})
    def get(self, request: Request) -> Response:
        return self._render(selectors.sso_config_get())

    @extend_schema(request=SsoConfigUpdateSerializer, responses={200: SsoConfigSerializer, **ERRORS})
    def put(self, request: Request) -> Response:
        """Fields left out keep their value. The issuer's discovery document is read on save (its `issuer`
        must be the one given). `require_sso` is turned on only from a browser session signed in through
        SSO."""
        changes = parse(SsoConfigUpdateSerializer, request.data)
        config, changed = services.sso_config_update(
            changes=changes, signed_in_with_sso=signed_in_with_sso(request._request)
        )
        if changed:
            audit_record("sso.settings_changed", request=request, target=config, changes=changed)
        return self._render(config)
