"""The default connection, typed as django-tenants' wrapper (it carries the active schema)."""

from typing import cast

from django.db import connection as _connection
from django_tenants.postgresql_backend.base import DatabaseWrapper

connection = cast(DatabaseWrapper, _connection)
