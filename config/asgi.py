import os

from shared_apps.http.admission import limited
from shared_apps.http.asgi_handler import get_asgi_application
from shared_apps.http.direct_send import expose_send

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
# A serving process holds at most DB_POOL_MAX_SIZE connections per database (Django's psycopg pool); a
# request waits up to DB_POOL_TIMEOUT for one, then gets a 503. DB_POOL=0 turns it off.
os.environ.setdefault("DB_POOL", "1")
# past REQUEST_CONCURRENCY requests in Django, the others wait on the event loop (or get a 503)
# the streams' listener writes their events with each response's own `send` (shared_apps.http.direct_send)
application = expose_send(limited(get_asgi_application()))
