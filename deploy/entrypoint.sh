#!/bin/sh
# The image's one entry point: `web`, `worker`, `scheduler`, `inbound-smtp`, `migrate`, or any command.
set -eu

case "${1:-web}" in
    web)
        exec gunicorn -c deploy/gunicorn.conf.py config.asgi:application ;;
    worker)
        # jobs run in this process, no fork per job (shared_apps/core/worker.py; deploy/README.md "Workers")
        exec python manage.py rqworker default low --with-scheduler --worker-class shared_apps.core.worker.Worker ;;
    scheduler)
        exec python manage.py rqcron config/cron.py ;;
    inbound-smtp)
        # in a container: every interface, the port published (docs/inbound-email.md)
        export INBOUND_SMTP_HOST="${INBOUND_SMTP_HOST:-0.0.0.0}"
        exec python manage.py inbound_smtp ;;
    migrate)
        # public schema, template, every organization (idempotent)
        exec python manage.py platform_setup --verbosity 1 ;;
    *)
        exec "$@" ;;
esac
