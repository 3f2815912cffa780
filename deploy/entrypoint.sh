#!/bin/sh
# The image's one entry point: `web`, `worker`, `scheduler`, `migrate`, or any command.
set -eu

case "${1:-web}" in
    web)
        exec gunicorn -c deploy/gunicorn.conf.py config.asgi:application ;;
    worker)
        exec python manage.py rqworker default low --with-scheduler ;;
    scheduler)
        exec python manage.py rqcron config/cron.py ;;
    migrate)
        # public schema, template, every organization (idempotent)
        exec python manage.py platform_setup --verbosity 1 ;;
    *)
        exec "$@" ;;
esac
