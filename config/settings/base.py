"""Settings shared by every environment. Everything an operator may change comes from the environment."""

from pathlib import Path

import environ

from config.dburl import database_from_url, databases_extra
from shared_apps.observability.logging import logging_config

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)


DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env("SECRET_KEY", default="dev-insecure-leadpulse-secret-key-change-me-in-production-0123456789")

# The root domain serves the platform (operators); every organization lives on <slug>.<BASE_DOMAIN>.
BASE_DOMAIN = env("BASE_DOMAIN", default="localhost").lower().strip(".")
# Custom domains are accepted when registered in the Domain table (the routing middleware checks them).
ALLOWED_HOSTS_EXTRA = env.list("ALLOWED_HOSTS_EXTRA", default=[])

ALLOWED_HOSTS = [BASE_DOMAIN, f".{BASE_DOMAIN}", *ALLOWED_HOSTS_EXTRA]


DATABASES = {
    "default": database_from_url(env("DATABASE_URL", default="postgres://postgres@127.0.0.1:5432/leadpulse")),
    # Further databases organizations can be placed on (shared_apps/organizations/placement.py).
    **databases_extra(env("DATABASES_EXTRA", default="")),
}
# The primary's connection while an organization on another database is active: a mirror of "default"
# that never opens a connection of its own (placement swaps the primary's wrapper in).
DATABASES["primary"] = {**DATABASES["default"], "TEST": {"MIRROR": "default"}}
# Organizations created without naming a database are placed here.
NEW_ORGANIZATION_DATABASE = env("NEW_ORGANIZATION_DATABASE", default="default")
# Empty organization schemas kept cloned ahead on the primary (shared_apps/organizations/spares.py):
# provisioning renames one instead of cloning the template on the request path. 0 turns the pool off.
ORGANIZATION_SPARE_SCHEMAS = env.int("ORGANIZATION_SPARE_SCHEMAS", default=2)
# A job for an organization being moved waits this long for the move's write freeze to end.
MOVE_JOB_WAIT_SECONDS = env.float("MOVE_JOB_WAIT_SECONDS", default=120.0)
DATABASE_ROUTERS = (
    "shared_apps.organizations.placement.PlacementRouter",
    "django_tenants.routers.TenantSyncRouter",
)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Connections (deploy/README.md, "Connections and poolers"). A physical connection that has served more
# than DB_CONN_MAX_SCHEMAS organizations' schemas is closed at the end of the request or job, which bounds
# PostgreSQL's per-session catalog caches (0 = never). DB_POOL=1 uses Django's psycopg pool instead of
# persistent connections (then DB_CONN_MAX_AGE does not apply; connections live DB_POOL_MAX_LIFETIME s).
DB_CONN_MAX_SCHEMAS = env.int("DB_CONN_MAX_SCHEMAS", default=200)
DB_POOL = env.bool("DB_POOL", default=False)
# A pooled connection handed back less than this many seconds ago, without error, is handed out again without
# the pool's health check (a round trip); one idle for longer is checked (shared_apps/core/postgresql).
DB_POOL_CHECK_AFTER = env.float("DB_POOL_CHECK_AFTER", default=2.0)
if DB_POOL:
    for _database in DATABASES.values():
        _database["CONN_MAX_AGE"] = 0  # Django refuses persistent connections with a pool
        _database["OPTIONS"] = {
            **_database["OPTIONS"],
            "pool": {
                "min_size": env.int("DB_POOL_MIN_SIZE", default=2),
                "max_size": env.int("DB_POOL_MAX_SIZE", default=10),
                "timeout": env.float("DB_POOL_TIMEOUT", default=10.0),
                "max_lifetime": env.float("DB_POOL_MAX_LIFETIME", default=1800.0),
            },
        }

REDIS_URL = env("REDIS_URL", default="redis://127.0.0.1:6379/0")

SHARED_APPS = [
    "django_tenants",
    "shared_apps.core",
    # logging, metrics, tracing (set up in its AppConfig.ready), health probes
    "shared_apps.observability",
    "shared_apps.organizations",
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "shared_apps.users",
    # two-factor sign-in: operators' authenticators here, members' in their organization's schema
    "shared_apps.mfa",
    # the platform's audit log (operators' actions) here, each organization's in its schema
    "shared_apps.audit",
    "django.contrib.sessions",
    "django.contrib.admin",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_rq",
    "tenant_apps.demo",
    # the operator console on the root domain (templates only, no models)
    "shared_apps.console",
    # inbound mail: which organization an address belongs to, and the SMTP receiver (public schema only)
    "shared_apps.mailroute",
]
# Installed in every organization's schema: its members, their tokens and the customer model.
TENANT_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "shared_apps.users",
    "shared_apps.mfa",
    "shared_apps.audit",
    # what every customer record shares (no tables): before the record apps that build on it
    "tenant_apps.records",
    "tenant_apps.leads",
    "tenant_apps.activities",
    "tenant_apps.accounts",
    "tenant_apps.contacts",
    "tenant_apps.opportunities",
    "tenant_apps.tasks",
    "tenant_apps.segments",
    # no models: installed so its AppConfig declares its API-key resource like every other app's
    "tenant_apps.search",
    "tenant_apps.currency",
    # each organization's own fields on its records (definitions; the values live on the records)
    "tenant_apps.customfields",
    "tenant_apps.analytics",
    "tenant_apps.notifications",
    "tenant_apps.reminders",
    "tenant_apps.sequences",
    "tenant_apps.webhooks",
    "tenant_apps.automation",
    "tenant_apps.realtime",
    "tenant_apps.imports",
    # privacy requests (export, erasure) and the do-not-contact list
    "tenant_apps.privacy",
    # single sign-on (OpenID Connect) configured per organization
    "tenant_apps.sso",
    # email as a channel: inbound messages, their attachments, bounces, the organization's email settings
    "tenant_apps.mail",
    # the members' web app: serves organization hosts only (INSTALLED_APPS is the union: its templates and
    # static files are found); its one table holds each member's list preferences (columns shown)
    "tenant_apps.web",
]
INSTALLED_APPS = list(dict.fromkeys(SHARED_APPS + TENANT_APPS))

TENANT_MODEL = "organizations.Organization"
TENANT_DOMAIN_MODEL = "organizations.Domain"
# New organizations are cloned from this migrated, empty schema instead of running every migration.
TENANT_BASE_SCHEMA = "org_template"
TENANT_CREATION_FAKES_MIGRATIONS = True
TENANT_LIMIT_SET_CALLS = True
PUBLIC_SCHEMA_URLCONF = "config.urls_public"
ROOT_URLCONF = "config.urls_tenant"

MIDDLEWARE = [
    # first, so the routing middleware's own answers (unknown host, suspended, moving) are logged and counted
    "shared_apps.observability.logging.RequestContextMiddleware",  # request id, access log, request metrics
    "shared_apps.core.errors.ApiErrorsAsJsonMiddleware",  # /api/ errors are JSON, with DEBUG on too
    "shared_apps.organizations.middleware.OrganizationRoutingMiddleware",
    "shared_apps.core.connections.ConnectionRecycleMiddleware",  # DB_CONN_MAX_SCHEMAS, when the response ends
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "shared_apps.organizations.timezones.MemberTimeZoneMiddleware",  # a signed-in member's own time zone
    "shared_apps.users.sessions.SessionSeenMiddleware",  # a member's sessions, listed and ended by them
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

AUTH_USER_MODEL = "users.User"
# Both the organization hosts (members) and the root domain (operators' console) sign in at /sign-in/;
# sessions live in the schema of the host that issued them.
LOGIN_URL = "/sign-in/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/sign-in/"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# scrypt first: memory-hard and ~10x cheaper in CPU than PBKDF2's 1M rounds, which keeps
# provisioning (which hashes the first admin's password) well under its 0.5 s budget.
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.ScryptPasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.Argon2PasswordHasher",
]
# Outgoing mail (reminders, sequences): EMAIL_URL such as smtp://user:pass@host:587/?tls=True; the console
# backend by default, so nothing leaves a development machine unless configured.
vars().update(env.email_url("EMAIL_URL", default="consolemail://"))
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="LeadPulse <no-reply@leadpulse.example>")
# A hung mail server must not hold a job (and the row locks it took) until the job's own timeout.
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=30)
# Links in emails (invitations, password resets, email changes) go to the organization's primary domain:
# <LINK_SCHEME>://<domain>[:LINK_PORT]/... (LINK_PORT 0: none).
LINK_SCHEME = env("LINK_SCHEME", default="https")
LINK_PORT = env.int("LINK_PORT", default=0)
INVITATION_TTL_DAYS = env.int("INVITATION_TTL_DAYS", default=7)
# Password reset links (Django's PasswordResetTokenGenerator: one-time via the password hash and last login).
PASSWORD_RESET_TIMEOUT = env.int("PASSWORD_RESET_TIMEOUT", default=60 * 60 * 3)

# Webhook URLs resolving to private, loopback or link-local addresses are refused unless this is on.
WEBHOOKS_ALLOW_PRIVATE_URLS = env.bool("WEBHOOKS_ALLOW_PRIVATE_URLS", default=False)
# Single sign-on: an organization's identity provider must resolve to public addresses unless this allows
# private/loopback ones (a provider on the developer's machine); every request to it times out after
# SSO_HTTP_TIMEOUT seconds.
SSO_ALLOW_PRIVATE_ISSUERS = env.bool("SSO_ALLOW_PRIVATE_ISSUERS", default=False)
SSO_HTTP_TIMEOUT = env.float("SSO_HTTP_TIMEOUT", default=5.0)
SSO_LOOPBACK_ISSUERS_ONLY = False  # the test suite's: issuers on this machine only

# CSV imports: an upload over IMPORT_MAX_BYTES is refused with 413, a file of more rows with 400.
IMPORT_MAX_BYTES = env.int("IMPORT_MAX_BYTES", default=512 * 1024 * 1024)
IMPORT_MAX_ROWS = env.int("IMPORT_MAX_ROWS", default=2_000_000)
# gin_pending_list_limit (kB) in an import's write transactions; 0 keeps the server's (4 MB by default)
IMPORT_GIN_PENDING_LIST_KB = env.int("IMPORT_GIN_PENDING_LIST_KB", default=0)
# Bulk mode (tenant_apps.imports.pipeline.bulk): an import creating at least this many leads, and at least as
# many as the organization has, writes them with the costly indexes gone and builds those at the end, with
# maintenance_work_mem IMPORT_INDEX_BUILD_MEMORY ("" keeps the server's).
IMPORT_BULK_MIN_ROWS = env.int("IMPORT_BULK_MIN_ROWS", default=100_000)
IMPORT_INDEX_BUILD_MEMORY = env("IMPORT_INDEX_BUILD_MEMORY", default="256MB")
# Worker processes normalizing an import's phone numbers past its first 20,000 rows (0: in the job's process)
IMPORT_PHONE_WORKERS = env.int("IMPORT_PHONE_WORKERS", default=2)
# connections a bulk import writes its batches on at once (committed in file order); 1: one after the other
IMPORT_WRITERS = env.int("IMPORT_WRITERS", default=2)
# Files of CSV exports run as jobs, one directory per organization (workers and web servers share it).
EXPORTS_DIR = Path(env("EXPORTS_DIR", default=str(BASE_DIR / ".data" / "exports")))

# Inbound email (shared_apps/mailroute, tenant_apps/mail): each organization's dropbox and the reply
# addresses live on INBOUND_DOMAIN; `manage.py inbound_smtp` listens on INBOUND_SMTP_HOST:INBOUND_SMTP_PORT
# and refuses messages over INBOUND_MAX_BYTES (552). Raw messages and attachments go to the "mail" storage
# (MAIL_STORAGE_BACKEND, a Django storage class; local files under MAIL_FILES_DIR by default), filed under
# the organization's id.
INBOUND_DOMAIN = env("INBOUND_DOMAIN", default=BASE_DOMAIN).lower().strip(".")
INBOUND_SMTP_HOST = env("INBOUND_SMTP_HOST", default="127.0.0.1")
INBOUND_SMTP_PORT = env.int("INBOUND_SMTP_PORT", default=2525)
INBOUND_MAX_BYTES = env.int("INBOUND_MAX_BYTES", default=25 * 1024 * 1024)
MAIL_FILES_DIR = Path(env("MAIL_FILES_DIR", default=str(BASE_DIR / ".data" / "mail")))
MAIL_STORAGE_BACKEND = env("MAIL_STORAGE_BACKEND", default="django.core.files.storage.FileSystemStorage")
# Outbound email (tenant_apps/mail/outbound.py): members' emails and sequence steps go From the member's own
# address; off, From DEFAULT_FROM_EMAIL's address under the member's name (a platform that may not send as
# its members' domains).
MAIL_SEND_AS_MEMBER = env.bool("MAIL_SEND_AS_MEMBER", default=True)
# An organization's own SMTP server (tenant_apps/mail/smtp.py): its host must resolve to public addresses
# unless MAIL_SMTP_ALLOW_PRIVATE_HOSTS says private/loopback ones are fine (a relay inside the network);
# its TLS certificate is verified against the system's CAs plus MAIL_SMTP_CA_FILE (a PEM bundle), if set.
MAIL_SMTP_ALLOW_PRIVATE_HOSTS = env.bool("MAIL_SMTP_ALLOW_PRIVATE_HOSTS", default=False)
MAIL_SMTP_CA_FILE = env("MAIL_SMTP_CA_FILE", default="")
MAIL_LOOPBACK_HOSTS_ONLY = False  # the test suite's: SMTP and IMAP hosts on this machine only
# Files a member attaches to an email they send: at most this many, this many bytes together.
MAIL_SEND_MAX_ATTACHMENTS = env.int("MAIL_SEND_MAX_ATTACHMENTS", default=10)
MAIL_SEND_MAX_ATTACHMENT_BYTES = env.int("MAIL_SEND_MAX_ATTACHMENT_BYTES", default=20 * 1024 * 1024)
# STARTTLS on the inbound receiver: a PEM certificate (chain) and its key; both set or neither.
INBOUND_TLS_CERT = env("INBOUND_TLS_CERT", default="")
INBOUND_TLS_KEY = env("INBOUND_TLS_KEY", default="")
# Secrets kept at rest (shared_apps/core/sealed.py): Fernet keys, the first seals; empty derives them from
# SECRET_KEY (and SECRET_KEY_FALLBACKS).
FIELD_ENCRYPTION_KEYS = env.list("FIELD_ENCRYPTION_KEYS", default=[])

# Requests per API key or member, by plan; sign-in attempts per client address and email.
THROTTLE_RATES_BY_PLAN = {
    "free": env("THROTTLE_FREE", default="300/min"),
    "team": env("THROTTLE_TEAM", default="1200/min"),
    "business": env("THROTTLE_BUSINESS", default="3000/min"),
    "enterprise": env("THROTTLE_ENTERPRISE", default="6000/min"),
}
THROTTLE_SIGN_IN_RATE = env("THROTTLE_SIGN_IN", default="10/min")

# Member API tokens expire after this many days (0 = never).
AUTH_TOKEN_TTL_DAYS = env.int("AUTH_TOKEN_TTL_DAYS", default=30)

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / ".data" / "static"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
    # raw inbound messages and email attachments (INBOUND_* above); another backend takes its own OPTIONS
    "mail": {
        "BACKEND": MAIL_STORAGE_BACKEND,
        "OPTIONS": (
            {"location": str(MAIL_FILES_DIR)}
            if MAIL_STORAGE_BACKEND == "django.core.files.storage.FileSystemStorage"
            else env.json("MAIL_STORAGE_OPTIONS", default={})
        ),
    },
}

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        # Every key carries the schema of the organization it was written in.
        "KEY_FUNCTION": "django_tenants.cache.make_key",
        "KEY_PREFIX": env("CACHE_KEY_PREFIX", default="lp"),
        "TIMEOUT": 300,
    },
    # Keys that belong to no organization (host routing); never namespaced by schema.
    "platform": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": env("CACHE_KEY_PREFIX", default="lp") + "-platform",
        "TIMEOUT": 3600,
    },
}

RQ_QUEUES = {
    "default": {"URL": REDIS_URL, "DEFAULT_TIMEOUT": 600},
    "low": {"URL": REDIS_URL, "DEFAULT_TIMEOUT": 3600},
}
RQ = {
    # no fork per job; abandoned jobs re-enqueued (shared_apps/core/worker.py, deploy/README.md "Workers")
    "WORKER_CLASS": "shared_apps.core.worker.Worker",
    "JOB_CLASS": "shared_apps.organizations.jobs.OrganizationJob",
    "QUEUE_CLASS": "shared_apps.organizations.jobs.OrganizationQueue",
    # Jobs are enqueued when the transaction that asked for them commits, never for rolled-back work.
    "COMMIT_MODE": "on_db_commit",
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "shared_apps.users.authentication.BearerTokenAuthentication",
        "shared_apps.users.apikeys.ApiKeyAuthentication",
        # the web app's pages call the API with the browser's session (CSRF-checked); explicit credentials
        # (a token or a key) come first
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": ["shared_apps.http.renderers.JSONRenderer"],  # DRF's, encoded by orjson
    # JSON with a nesting limit (shared_apps/core/parsers.py): too deep is a 400, not a 500
    "DEFAULT_PARSER_CLASSES": ["shared_apps.core.parsers.SafeJSONParser"],
    "EXCEPTION_HANDLER": "shared_apps.core.errors.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "LeadPulse API",
    "DESCRIPTION": "Multi-tenant CRM. Organization endpoints live on <slug>.<BASE_DOMAIN>; "
    "platform (operator) endpoints on the root domain.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    # An organization's host shows its own custom fields in the record schemas (tenant_apps/customfields).
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "tenant_apps.customfields.schema.custom_fields_hook",
    ],
    # Several record types have a stage or a status: name their enums apart in the schema.
    "ENUM_NAME_OVERRIDES": {
        "LeadStageEnum": "tenant_apps.leads.models.Stage",
        "OpportunityStageEnum": "tenant_apps.opportunities.models.OpportunityStage",
        "AccountStatusEnum": "tenant_apps.accounts.models.AccountStatus",
        "ActivityTypeEnum": "tenant_apps.activities.models.ActivityType",
        "SuppressionReasonEnum": "tenant_apps.privacy.models.SuppressionReason",
        "CustomFieldTypeEnum": "tenant_apps.customfields.models.FieldKind",
    },
}

# LOG_FORMAT=json: one JSON object per line with request id, organization, member, route, status, duration
# (and job id, queue, schema inside rq jobs); production defaults to json.
LOG_FORMAT = env("LOG_FORMAT", default="plain")
LOGGING = logging_config(LOG_FORMAT, env("LOG_LEVEL", default="INFO"))
# /metrics on the root domain answers this bearer token (or an operator's); empty = operators only.
METRICS_TOKEN = env("METRICS_TOKEN", default="")

# ---- Under load (README "Settings", deploy/README.md "Sizing connections") ------------------------------
# Every Redis client of a process (caches, host routing, throttling, idempotency, rq) shares one pool of
# REDIS_POOL_MAX_CONNECTIONS; past them a caller waits up to REDIS_POOL_TIMEOUT s, then gets a 503.
REDIS_POOL_MAX_CONNECTIONS = env.int("REDIS_POOL_MAX_CONNECTIONS", default=50)
REDIS_POOL_TIMEOUT = env.float("REDIS_POOL_TIMEOUT", default=5.0)
for _redis_cache in CACHES.values():
    _redis_cache["BACKEND"] = "shared_apps.core.redis_pool.RedisCache"
    _redis_cache["OPTIONS"] = {
        "pool_class": "shared_apps.core.redis_pool.SharedBlockingConnectionPool",
        "max_connections": REDIS_POOL_MAX_CONNECTIONS,
        "timeout": REDIS_POOL_TIMEOUT,
    }
for _rq_queue in RQ_QUEUES.values():
    # rq takes its connection from the platform cache (its pool), not from a URL of its own
    del _rq_queue["URL"]
    _rq_queue["USE_REDIS_CACHE"] = "platform"
# A request that finds the database or Redis unavailable (refused, too many clients, every pooled connection
# busy past DB_POOL_TIMEOUT / REDIS_POOL_TIMEOUT) is answered 503 with this Retry-After, never 500.
SERVICE_UNAVAILABLE_RETRY_AFTER = env.int("SERVICE_UNAVAILABLE_RETRY_AFTER", default=5)
# Under ASGI at most REQUEST_CONCURRENCY requests are inside Django at once (0 = no limit); the others wait
# in arrival order on the event loop, up to REQUEST_QUEUE_TIMEOUT s, then get the 503 (shared_apps/core/
# admission.py). Open SSE streams do not count.
REQUEST_CONCURRENCY = env.int("REQUEST_CONCURRENCY", default=20)
REQUEST_QUEUE_TIMEOUT = env.float("REQUEST_QUEUE_TIMEOUT", default=30.0)
# right below the request log (which then logs the 503), above everything that may reach the database or Redis
MIDDLEWARE.insert(
    MIDDLEWARE.index("shared_apps.observability.logging.RequestContextMiddleware") + 1,
    "shared_apps.core.unavailable.ServiceUnavailableMiddleware",
)

# ---- Security (issue 15) -----------------------------------------------------------------------------------
# How many reverse proxies in front of the application append to X-Forwarded-For; the client's address is the
# one the outermost trusted proxy saw. 0 (the default): the header is ignored and REMOTE_ADDR is the client,
# so no client can pick the address its sign-in attempts are counted under.
TRUSTED_PROXIES = env.int("TRUSTED_PROXIES", default=0)
REST_FRAMEWORK["NUM_PROXIES"] = TRUSTED_PROXIES
# Sign-in attempts per account (email), whatever address they come from, on top of THROTTLE_SIGN_IN's count
# per address and email.
THROTTLE_SIGN_IN_ACCOUNT = env("THROTTLE_SIGN_IN_ACCOUNT", default="30/h")
# Cache keys carry the id of the organization that wrote them (never reused, unlike a slug or a schema name),
# so a purge can remove them all and a new organization under the same slug starts clean.
CACHES["default"]["KEY_FUNCTION"] = "shared_apps.organizations.namespace.cache_key"

# ---- Two-factor sign-in (issue 17) -------------------------------------------------------------------------
# The issuer authenticator apps show beside the account (members' entries add their organization's name).
TWO_FACTOR_ISSUER = env("TWO_FACTOR_ISSUER", default="LeadPulse")
# How long the sign-in page waits for the code after a correct password before asking for the password again.
TWO_FACTOR_PENDING_SECONDS = env.int("TWO_FACTOR_PENDING_SECONDS", default=300)
# Operators must sign in with a second factor (members: each organization's own setting, set by its admins).
TWO_FACTOR_REQUIRED_FOR_OPERATORS = env.bool("TWO_FACTOR_REQUIRED_FOR_OPERATORS", default=False)
# Sends members of an organization requiring two-factor sign-in to the set-up page until they have it.
MIDDLEWARE.insert(
    MIDDLEWARE.index("django.contrib.auth.middleware.AuthenticationMiddleware") + 1,
    "shared_apps.mfa.middleware.TwoFactorEnrollmentMiddleware",
)
