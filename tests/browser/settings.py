"""Settings of the uvicorn process the browser tests drive: the test settings, on the test database the
suite created (its name comes from the test process), serving static files straight from the apps."""

import os

from config.settings.test import *  # noqa: F403
from config.settings.test import DATABASES

DATABASES["default"]["NAME"] = os.environ["LEADPULSE_BROWSER_DATABASE"]
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
