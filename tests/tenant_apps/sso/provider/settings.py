"""A real OpenID Connect provider for the SSO tests: django-oauth-toolkit with OIDC on, in a small Django
project of its own, run as a subprocess by tests/tenant_apps/sso/conftest.py. Its database is a PostgreSQL
database of its own on the suite's server (`<test database>_oidc`, made afresh and dropped by process.py)."""

import json
import os
from pathlib import Path

HERE = Path(__file__).resolve().parent
SECRET_KEY = "oidc-test-provider"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "oauth2_provider",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]
ROOT_URLCONF = "tests.tenant_apps.sso.provider.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [HERE / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
            ]
        },
    }
]
# PostgreSQL, like everything else in the suite: a database of its own, made afresh by process.py
DATABASES = {
    "default": {"ENGINE": "django.db.backends.postgresql", **json.loads(os.environ["OIDC_PROVIDER_DATABASE"])}
}
# Tables made straight from the models (no migration files to replay): the provider starts in a few seconds.
MIGRATION_MODULES = {app: None for app in ("auth", "contenttypes", "sessions", "oauth2_provider")}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
LOGIN_URL = "/accounts/login/"
OAUTH2_PROVIDER = {
    "OIDC_ENABLED": True,
    "OIDC_RSA_PRIVATE_KEY": os.environ["OIDC_PROVIDER_KEY"],
    "OIDC_ISS_ENDPOINT": os.environ["OIDC_PROVIDER_ISSUER"],
    "PKCE_REQUIRED": True,
    "SCOPES": {"openid": "OpenID Connect", "email": "Email address", "profile": "Name"},
    "OAUTH2_VALIDATOR_CLASS": "tests.tenant_apps.sso.provider.validator.Validator",
}
