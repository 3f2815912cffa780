import os
from urllib.parse import urlsplit, urlunsplit

from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F403
from .base import CACHES, DATABASES, REDIS_URL, RQ_QUEUES, env

DEBUG = False
# `make test` runs the suite in pytest-xdist worker processes (gw0, gw1, ...). Each has a test database of its
# own (pytest-django appends the worker id to every test database's name; NAME below follows it) and a Redis
# database of its own: TEST_REDIS_DB for gw0, one less for each next worker (the suite flushes its database).
_worker = os.environ.get("PYTEST_XDIST_WORKER", "")
_worker_index = int(_worker.removeprefix("gw")) if _worker.startswith("gw") else 0
# Tests use their own Redis database so that flushing it never touches a running `make up`.
_redis = urlsplit(REDIS_URL)
_db = env.int("TEST_REDIS_DB", default=15) - _worker_index
if _db < 1:  # database 0 is the one `make up` uses
    raise ImproperlyConfigured(f"TEST_REDIS_DB leaves worker {_worker} no Redis database of its own")
if _redis.scheme == "unix":  # the database number is a query parameter on a socket URL
    TEST_REDIS_URL = f"unix://{_redis.path}?db={_db}"
else:
    TEST_REDIS_URL = urlunsplit(_redis._replace(path=f"/{_db}"))
for _cache in CACHES.values():
    _cache["LOCATION"] = TEST_REDIS_URL
for _queue in RQ_QUEUES.values():
    _queue["ASYNC"] = True  # (rq's connection is the platform cache's: TEST_REDIS_URL too)

# No spare schemas unless a test asks for them (tests/shared_apps/organizations/test_spares.py): the suite's
# provisionings clone, and no test leaves a pool behind.
ORGANIZATION_SPARE_SCHEMAS = 0

# Hashing is not what the suite tests; keep it cheap.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
BASE_DOMAIN = "testserver.local"
WEBHOOKS_ALLOW_PRIVATE_URLS = True  # the tests' webhook receiver listens on 127.0.0.1
SSO_ALLOW_PRIVATE_ISSUERS = True  # the tests' OpenID provider listens on 127.0.0.1
MAIL_SMTP_ALLOW_PRIVATE_HOSTS = True  # the tests' SMTP servers listen on 127.0.0.1
MAIL_LOOPBACK_HOSTS_ONLY = True  # and no generated host (schemathesis) is ever contacted elsewhere
SSO_LOOPBACK_ISSUERS_ONLY = True  # and no generated issuer (schemathesis) is ever contacted elsewhere
ALLOWED_HOSTS = [BASE_DOMAIN, f".{BASE_DOMAIN}"]

# Separate names let several test runs share one server (parallel work on one machine).
DATABASES["default"]["TEST"] = {"NAME": env("TEST_DB_NAME", default="test_leadpulse")}
# The name itself is the test database's too: a run in which no test asks pytest-django for the database
# (a module whose tests all manage their own transactions) must fail to connect, never reach the data of
# the database DATABASE_URL names.
_worker_suffix = f"_{_worker}" if _worker else ""
DATABASES["default"]["NAME"] = DATABASES["default"]["TEST"]["NAME"] + _worker_suffix
# A second database on the same server for placement and moves (tests/shared_apps/organizations).
_shard2_name = f"{DATABASES['default']['TEST']['NAME']}_shard2{_worker_suffix}"
DATABASES.setdefault("shard2", {**DATABASES["default"], "NAME": _shard2_name, "TEST": {}})
# Created empty: Django's own `migrate` on an alias other than "default" records every migration while
# django-tenants' router skips them all; placement.database_prepare migrates it for real.
DATABASES["shard2"]["TEST"] = {"NAME": f"{DATABASES['default']['TEST']['NAME']}_shard2", "MIGRATE": False}
DATABASES["primary"] = {**DATABASES["default"], "TEST": {"MIRROR": "default"}}

# The suite makes many requests per member; throttling has its own tests with small limits.
THROTTLE_RATES_BY_PLAN = {plan: "100000/min" for plan in ("free", "team", "business", "enterprise")}
THROTTLE_SIGN_IN_RATE = "100000/min"
THROTTLE_SIGN_IN_ACCOUNT = "100000/min"

# Inbound mail files of this run apart from `make up`'s and other runs' (several runs share a machine).
_mail_dir = BASE_DIR / ".data" / f"test-mail-{DATABASES['default']['NAME']}"  # noqa: F405
STORAGES = {**STORAGES, "mail": {**STORAGES["mail"], "OPTIONS": {"location": str(_mail_dir)}}}  # noqa: F405
