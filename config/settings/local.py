from .base import *  # noqa: F403
from .base import env

# Off by default, `make up` included: Django's debug pages show settings and every route to whoever reaches
# the server. DEBUG=1 turns them on for the web pages while developing; /api/ answers JSON errors regardless.
DEBUG = env.bool("DEBUG", default=False)

# Serve static files (admin, Swagger UI) straight from the apps under uvicorn, without collectstatic.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True

# A developer's identity provider runs on their machine.
SSO_ALLOW_PRIVATE_ISSUERS = env.bool("SSO_ALLOW_PRIVATE_ISSUERS", default=True)
MAIL_SMTP_ALLOW_PRIVATE_HOSTS = env.bool("MAIL_SMTP_ALLOW_PRIVATE_HOSTS", default=True)
# `make up` serves plain HTTP on PORT: links in emails point there.
LINK_SCHEME = env("LINK_SCHEME", default="http")
LINK_PORT = env.int("LINK_PORT", default=env.int("PORT", default=8000))
