"""Bench only: config.settings.base with tenant resolution bypassed (see bench.bypass).

Everything else (authentication, DRF, serializers, database, cache) is the normal configuration, so a
server run with these settings is the baseline `bench.leads_api` compares the real routing against.
"""

from django.core.exceptions import ImproperlyConfigured

from config.settings.base import *  # noqa: F403
from config.settings.base import MIDDLEWARE as _BASE_MIDDLEWARE

_ROUTING = "shared_apps.organizations.middleware.OrganizationRoutingMiddleware"
if _ROUTING not in _BASE_MIDDLEWARE:
    raise ImproperlyConfigured(f"{_ROUTING} is no longer in MIDDLEWARE: update bench.settings_bypass.")

MIDDLEWARE = [
    "bench.bypass.FixedOrganizationMiddleware" if name == _ROUTING else name for name in _BASE_MIDDLEWARE
]
