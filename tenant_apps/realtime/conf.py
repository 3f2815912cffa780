"""The stream's knobs: a Django setting of the same name wins, else the environment, else the default."""

from __future__ import annotations

import os

from django.conf import settings

DEFAULTS: dict[str, float] = {
    # a comment line this often keeps proxies and load balancers from closing an idle stream
    "REALTIME_HEARTBEAT_SECONDS": 15.0,
    # streams end after about this long (±10 %) and the client reconnects: credentials are checked again
    "REALTIME_STREAM_MAX_SECONDS": 1800.0,
    # at most this many missed events are replayed; further behind, the client gets a `reset` event
    "REALTIME_REPLAY_LIMIT": 1000.0,
    # events waiting for one stream (a slow client, one huge transaction); beyond, they are dropped and the
    # client is sent a `reset` (they stay in the log)
    "REALTIME_QUEUE_LIMIT": 1000.0,
    # threads (hence database connections) per process for the streams' queries (sign-in, replay)
    "REALTIME_DB_THREADS": 4.0,
    # how long a new stream waits for the process's listener to connect before answering 503
    "REALTIME_LISTEN_TIMEOUT_SECONDS": 10.0,
    # the serving process's young-generation GC threshold, set when its listener starts (0: Python's 700);
    # see listener.tune_gc
    "REALTIME_GC_THRESHOLD": 10000.0,
    # the event log's retention, for the daily prune job
    "REALTIME_RETENTION_DAYS": 7.0,
}


def value(name: str) -> float:
    configured = getattr(settings, name, None)
    if configured is None:
        configured = os.environ.get(name) or DEFAULTS[name]
    return float(configured)
