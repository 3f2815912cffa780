# ruff: noqa: S608  (SQL is built from table names and constants only; every value is a parameter)
"""Every write on the analytics tables: set-based SQL, one statement per step, safe to run twice.

How the tables stay current (see models for what they hold):

- Stage changes are *ingested* from the activity log: STAGE_CHANGE activities not yet in StageTransition,
  in id order, in batches. Each batch is one statement that inserts the facts and adds them to the day and
  month rollups and histograms; the fact's primary key (the activity id) makes a second run add nothing.
  Transactions commit out of id order, so the watermark only moves past activities older than
  WATERMARK_SAFETY: anything newer is re-examined next time (an anti-join on the fact's key skips what
  is already in).
- Deleting, restoring, merging or purging a lead *reconciles* its facts: a fact counts while its activity
  exists and the lead it is on is live; facts whose status flips are subtracted from or added back to the
  rollups, in the same statement.
- The pipeline *snapshot* of a day is one GROUP BY over the live leads (count, value and weighted value per
  stage and owner), upserted (ON CONFLICT DO UPDATE) with the keys that disappeared removed: running it
  twice leaves one row per key with the latest numbers. Today's snapshot is the current pipeline.
- *Back-fill* rebuilds the snapshots of past days from the activity log: a live lead is, at the end of day
  D, in the stage of its last STAGE_CHANGE up to then, or NEW if it existed by then.

`analytics_refresh` (ingest, then snapshot today) runs after every committed lead change (at most one
waiting per organization; for the largest ones spaced so that they take at most a tenth of a worker,
see refresh_delay) and hourly from the scheduler; every change also invalidates the organization's cached
reports at once (see selectors.cached), and so does every refresh when it is done.
"""

from __future__ import annotations

import logging
import time
import uuid
from datetime import date, datetime, timedelta
from typing import Any

from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from shared_apps.core.db import connection
from shared_apps.core.errors import InvalidInput
from shared_apps.core.events import DomainEvent, subscribe
from shared_apps.organizations.context import (
    enqueue_in_organization,
    organization_context,
    organization_zone,
)
from tenant_apps.activities.models import Activity, ActivityType
from tenant_apps.analytics.deals import deal_snapshot_take
from tenant_apps.analytics.models import (
    BUCKET_BASE_SECONDS,
    BUCKET_GROWTH,
    STAGE_WEIGHTS,
    AnalyticsState,
    DurationHistogram,
    PipelineCurrency,
    PipelineSnapshot,
    PipelineTotal,
    StageTransition,
    TransitionRollup,
)
from tenant_apps.analytics.selectors import GENERATION_KEY, REFRESH_PENDING_KEY, organization_today
from tenant_apps.currency.selectors import base_currency, rate_sql
from tenant_apps.leads.models import OPEN_STAGES, Lead, Stage

logger = logging.getLogger(__name__)

INGEST_BATCH = 200_000
ANALYZE_AFTER = 50_000  # facts added by one ingest
# A transaction open longer than this when the watermark passes its activity would be missed by ingest
# (the hourly refresh re-examines everything newer than the watermark, so anything shorter is caught).
WATERMARK_SAFETY = timedelta(hours=1)
# The pending-refresh flag outlives a lost job by at most this long.
REFRESH_PENDING_TTL = 120
REFRESH_COST_KEY = "analytics:refresh-cost"  # (finished at, seconds) of the last refresh
REFRESH_DUTY = 0.1
REFRESH_MIN_DELAY, REFRESH_MAX_DELAY = 2.0, 60.0
MAX_BACKFILL_DAYS = 3 * 366

T = {
    "lead": Lead._meta.db_table,
    "activity": Activity._meta.db_table,
    "fact": StageTransition._meta.db_table,
    "rollup": TransitionRollup._meta.db_table,
    "histogram": DurationHistogram._meta.db_table,
    "snapshot": PipelineSnapshot._meta.db_table,
    "total": PipelineTotal._meta.db_table,
    "currency": PipelineCurrency._meta.db_table,
    "state": AnalyticsState._meta.db_table,
}
STAGE_LIST = ", ".join(f"'{stage}'" for stage in Stage.values)
MAX_SEQ = 2**63 - 1  # after every activity at the same instant
OPEN_STAGE_LIST = ", ".join(f"'{stage}'" for stage in OPEN_STAGES)
WEIGHTS_SQL = "(VALUES " + ", ".join(f"('{stage}', {w})" for stage, w in STAGE_WEIGHTS.items()) + ")"
ALIVE = "{alias}.deleted_at IS NULL AND {alias}.merged_into_id IS NULL"
# A lead's value in the base currency at the rate in force on the day it was created; NULL (left out of
# every sum, listed by the report as unconverted) while its currency has no rate for that day.
LEAD_BASE_VALUE = (
    "({alias}.value * "
    + rate_sql(currency="{alias}.currency", day="({alias}.created_at AT TIME ZONE %(tz)s)::date")
    + ")"
)
L_BASE = LEAD_BASE_VALUE.format(alias="l")
# A lead converted while open has left the lead pipeline: its money is its deal's now (the forecast's).
CONVERTED_OPEN = "({alias}.converted_at IS NOT NULL AND {alias}.stage IN (" + OPEN_STAGE_LIST + "))"


def _bucket_sql(expression: str) -> str:
    return (
        f"CASE WHEN {expression} < {BUCKET_BASE_SECONDS} THEN 0 ELSE "
        f"floor(ln({expression} / {BUCKET_BASE_SECONDS}.0) / ln({BUCKET_GROWTH!r}))::int + 1 END"
    )


def _tz() -> str:
    """The organization's zone: facts, rollups and snapshots are bucketed into its days."""
    return str(organization_zone())


def _rollup_ctes(source: str) -> str:
    """CTEs adding the facts of CTE `source` to the rollups and histograms, each times its `sign` (+1 to
    add, -1 to take back). `source` has the StageTransition columns plus `sign`. Rows are grouped by key
    before the upsert: ON CONFLICT may touch each row once per statement."""
    return f"""
    signed AS (
        SELECT s.from_stage, s.to_stage, s.source, s.owner_id, s.seconds_in_stage, s.sign,
               (s.at AT TIME ZONE %(tz)s)::date AS day,
               greatest(0, round(extract(epoch FROM s.at - s.lead_created_at)))::bigint AS cycle
        FROM {source} s
    ),
    periods AS (
        SELECT g.grain,
               CASE g.grain WHEN 'd' THEN s.day ELSE date_trunc('month', s.day)::date END AS period, s.*
        FROM signed s CROSS JOIN (VALUES ('d'), ('m')) g(grain)
    ),
    rollup_upsert AS (
        INSERT INTO {T["rollup"]} AS r
            (grain, period, dimension, key, from_stage, to_stage, count, seconds, cycle_seconds)
        SELECT p.grain, p.period, d.dimension,
               CASE d.dimension WHEN 'source' THEN p.source ELSE coalesce(p.owner_id::text, '') END,
               p.from_stage, p.to_stage,
               sum(p.sign), sum(p.sign * p.seconds_in_stage), sum(p.sign * p.cycle)
        FROM periods p CROSS JOIN (VALUES ('source'), ('owner')) d(dimension)
        GROUP BY 1, 2, 3, 4, 5, 6
        ON CONFLICT (grain, period, dimension, key, from_stage, to_stage) DO UPDATE SET
            count = r.count + excluded.count,
            seconds = r.seconds + excluded.seconds,
            cycle_seconds = r.cycle_seconds + excluded.cycle_seconds
    ),
    histogram_upsert AS (
        INSERT INTO {T["histogram"]} AS h (grain, period, metric, key, bucket, count)
        SELECT p.grain, p.period, m.metric, m.key, {_bucket_sql("m.seconds")}, sum(p.sign)
        FROM periods p CROSS JOIN LATERAL (
            VALUES ('stage', p.from_stage, p.seconds_in_stage),
                   ('cycle', p.source, CASE WHEN p.to_stage = 'WON' THEN p.cycle END)
        ) m(metric, key, seconds)
        WHERE m.seconds IS NOT NULL
        GROUP BY 1, 2, 3, 4, 5
        ON CONFLICT (grain, metric, period, key, bucket) DO UPDATE SET count = h.count + excluded.count
    )"""


INGEST_SQL = f"""
WITH batch AS (
    SELECT a.id AS activity_id, a.lead_id, coalesce(a.metadata->>'from', '') AS from_stage,
           a.metadata->>'to' AS to_stage, a.occurred_at AS at
    FROM {T["activity"]} a
    WHERE a.id > %(after)s AND a.type = '{ActivityType.STAGE_CHANGE}' AND a.lead_id IS NOT NULL
      AND a.metadata->>'to' IN ({STAGE_LIST})
      AND NOT EXISTS (SELECT 1 FROM {T["fact"]} f WHERE f.activity_id = a.id)
    ORDER BY a.id
    LIMIT %(limit)s
),
facts AS (
    SELECT b.activity_id, b.lead_id, b.from_stage, b.to_stage, b.at, l.source, l.owner_id,
           l.created_at AS lead_created_at, ({ALIVE.format(alias="l")}) AS counted,
           -- the stay ends now; it began at the lead's previous change (in this batch, else already
           -- ingested), else at its creation. COALESCE evaluates the subquery only when needed.
           greatest(0, round(extract(epoch FROM b.at - coalesce(
               lag(b.at) OVER (PARTITION BY b.lead_id ORDER BY b.at, b.activity_id),
               (SELECT max(p.at) FROM {T["fact"]} p WHERE p.lead_id = b.lead_id AND p.at <= b.at),
               l.created_at
           ))))::bigint AS seconds_in_stage
    FROM batch b JOIN {T["lead"]} l ON l.id = b.lead_id
),
inserted AS (
    INSERT INTO {T["fact"]} (activity_id, lead_id, from_stage, to_stage, at, source, owner_id,
                             lead_created_at, seconds_in_stage, counted)
    SELECT activity_id, lead_id, from_stage, to_stage, at, source, owner_id, lead_created_at,
           seconds_in_stage, counted
    FROM facts
    ON CONFLICT (activity_id) DO NOTHING
    RETURNING *
),
added AS (SELECT i.*, 1 AS sign FROM inserted i WHERE i.counted),
{_rollup_ctes("added")}
SELECT (SELECT count(*) FROM inserted), (SELECT max(activity_id) FROM batch)
"""

RECONCILE_SQL = f"""
WITH target AS (
    SELECT f.activity_id, f.counted AS was_counted,
           (l.id IS NOT NULL AND {ALIVE.format(alias="l")}) AS now_counted,
           coalesce(a.lead_id, f.lead_id) AS current_lead
    FROM {T["fact"]} f
    LEFT JOIN {T["activity"]} a ON a.id = f.activity_id
    LEFT JOIN {T["lead"]} l ON l.id = a.lead_id
    WHERE f.lead_id = ANY(%(lead_ids)s)
),
updated AS (
    UPDATE {T["fact"]} f SET counted = t.now_counted, lead_id = t.current_lead
    FROM target t
    WHERE f.activity_id = t.activity_id AND (f.counted <> t.now_counted OR f.lead_id <> t.current_lead)
    RETURNING f.*, t.was_counted
),
changed AS (
    SELECT u.*, CASE WHEN u.counted THEN 1 ELSE -1 END AS sign FROM updated u
    WHERE u.counted <> u.was_counted
),
{_rollup_ctes("changed")}
SELECT count(*) FROM changed
"""

SNAPSHOT_SQL = f"""
WITH weights(stage, weight) AS {WEIGHTS_SQL},
agg AS (
    SELECT l.stage, l.owner_id, count(*) AS n, round(coalesce(sum({L_BASE}), 0), 2) AS total,
           round(coalesce(sum({L_BASE} * w.weight), 0) / 100, 2) AS weighted
    FROM {T["lead"]} l JOIN weights w ON w.stage = l.stage
    WHERE {ALIVE.format(alias="l")} AND NOT {CONVERTED_OPEN.format(alias="l")}
    GROUP BY l.stage, l.owner_id
),
upsert AS (
    INSERT INTO {T["snapshot"]} AS s (date, stage, owner_id, count, total_value, weighted_value, computed_at)
    SELECT %(day)s, stage, owner_id, n, total, weighted, %(now)s FROM agg
    ON CONFLICT (date, stage, owner_id) DO UPDATE SET
        count = excluded.count, total_value = excluded.total_value,
        weighted_value = excluded.weighted_value, computed_at = excluded.computed_at
),
stale AS (
    DELETE FROM {T["snapshot"]} s
    WHERE s.date = %(day)s
      AND NOT EXISTS (
          SELECT 1 FROM agg WHERE agg.stage = s.stage AND agg.owner_id IS NOT DISTINCT FROM s.owner_id
      )
),
totals AS (
    INSERT INTO {T["total"]} AS t (date, stage, count, total_value, weighted_value, computed_at)
    SELECT %(day)s, w.stage, coalesce(sum(agg.n), 0), coalesce(sum(agg.total), 0),
           coalesce(sum(agg.weighted), 0), %(now)s
    FROM weights w LEFT JOIN agg ON agg.stage = w.stage
    GROUP BY w.stage
    ON CONFLICT (date, stage) DO UPDATE SET
        count = excluded.count, total_value = excluded.total_value,
        weighted_value = excluded.weighted_value, computed_at = excluded.computed_at
)
SELECT count(*) FROM agg
"""

# Today's open leads per owner and currency (what the pipeline report's currency breakdown reads).
CURRENCY_SQL = [
    f"DELETE FROM {T['currency']} WHERE date = %(day)s",
    f"""
    INSERT INTO {T["currency"]}
        (date, owner_id, currency, count, value, base_value, unconverted_count, unconverted_value)
    SELECT %(day)s, owner_id, currency, count(*), coalesce(sum(value), 0), round(coalesce(sum(base), 0), 2),
           count(*) FILTER (WHERE base IS NULL), coalesce(sum(value) FILTER (WHERE base IS NULL), 0)
    FROM (SELECT l.owner_id, upper(l.currency) AS currency, l.value, {L_BASE} AS base
          FROM {T["lead"]} l
          WHERE {ALIVE.format(alias="l")} AND l.stage IN ({OPEN_STAGE_LIST})
            AND l.converted_at IS NULL) open_leads
    GROUP BY owner_id, currency
    """,
]

# Spans of each live lead in each stage: [creation, first change) in NEW, then [change, next change) in the
# stage each change went to. A span covers the end of day D when it starts on or before D and ends after
# D; each span adds its lead at its first covered day and takes it back at its first uncovered one, and a
# running sum per (stage, owner) over the days of the range gives the snapshots. The owner is keyed as 0
# while grouping (NULL would never match in a join) and turned back into NULL on the way out.
BACKFILL_SQL = f"""
WITH weights(stage, weight) AS {WEIGHTS_SQL},
live AS (
    SELECT l.id, coalesce(l.owner_id, 0) AS okey, {L_BASE} AS value, l.created_at,
           CASE WHEN {CONVERTED_OPEN.format(alias="l")} THEN l.converted_at END AS left_at
    FROM {T["lead"]} l
    WHERE {ALIVE.format(alias="l")} AND l.created_at < %(end)s
),
events AS (
    SELECT id AS lead_id, created_at AS at, 0::bigint AS seq, 'NEW'::text AS stage FROM live
    UNION ALL
    -- converted while open: out of every stage from then on (CONVERTED has no weight: no rows)
    SELECT id, left_at, {MAX_SEQ}, 'CONVERTED' FROM live WHERE left_at < %(end)s
    UNION ALL
    SELECT a.lead_id, a.occurred_at, a.id, a.metadata->>'to'
    FROM {T["activity"]} a JOIN live ON live.id = a.lead_id
    WHERE a.type = '{ActivityType.STAGE_CHANGE}' AND a.occurred_at < %(end)s
      AND a.metadata->>'to' IN ({STAGE_LIST})
),
spans AS (
    SELECT lead_id, stage, (at AT TIME ZONE %(tz)s)::date AS first_day,
           (lead(at) OVER (PARTITION BY lead_id ORDER BY at, seq) AT TIME ZONE %(tz)s)::date AS end_day
    FROM events
),
clipped AS (
    SELECT s.stage, live.okey, live.value,
           greatest(s.first_day, %(date_from)s) AS a, least(coalesce(s.end_day, %(after)s), %(after)s) AS b
    FROM spans s JOIN live ON live.id = s.lead_id
),
deltas AS (
    SELECT stage, okey, day, sum(n) AS n, sum(v) AS v FROM (
        SELECT stage, okey, a AS day, 1 AS n, value AS v FROM clipped WHERE a < b
        UNION ALL
        SELECT stage, okey, b, -1, -value FROM clipped WHERE a < b AND b < %(after)s
    ) d
    GROUP BY stage, okey, day
),
keys AS (SELECT DISTINCT stage, okey FROM deltas),
series AS (
    SELECT g.day::date AS day, k.stage, k.okey,
           sum(coalesce(d.n, 0)) OVER w AS n, sum(coalesce(d.v, 0)) OVER w AS v
    FROM generate_series(%(date_from)s::date, %(date_to)s::date, interval '1 day') g(day)
    CROSS JOIN keys k
    LEFT JOIN deltas d ON d.day = g.day::date AND d.stage = k.stage AND d.okey = k.okey
    WINDOW w AS (PARTITION BY k.stage, k.okey ORDER BY g.day)
),
rows AS (
    SELECT s.day, s.stage, nullif(s.okey, 0) AS owner_id, s.n, s.v AS total,
           round(s.v * w.weight / 100, 2) AS weighted
    FROM series s JOIN weights w ON w.stage = s.stage
    WHERE s.n > 0
),
upsert AS (
    INSERT INTO {T["snapshot"]} AS s (date, stage, owner_id, count, total_value, weighted_value, computed_at)
    SELECT day, stage, owner_id, n, total, weighted, %(now)s FROM rows
    ON CONFLICT (date, stage, owner_id) DO UPDATE SET
        count = excluded.count, total_value = excluded.total_value,
        weighted_value = excluded.weighted_value, computed_at = excluded.computed_at
),
stale AS (
    DELETE FROM {T["snapshot"]} s
    WHERE s.date BETWEEN %(date_from)s AND %(date_to)s
      AND NOT EXISTS (
          SELECT 1 FROM rows r
          WHERE r.day = s.date AND r.stage = s.stage AND r.owner_id IS NOT DISTINCT FROM s.owner_id
      )
),
totals AS (
    INSERT INTO {T["total"]} AS t (date, stage, count, total_value, weighted_value, computed_at)
    SELECT g.day::date, w.stage, coalesce(sum(r.n), 0), coalesce(sum(r.total), 0),
           coalesce(sum(r.weighted), 0), %(now)s
    FROM generate_series(%(date_from)s::date, %(date_to)s::date, interval '1 day') g(day)
    CROSS JOIN weights w
    LEFT JOIN rows r ON r.day = g.day::date AND r.stage = w.stage
    GROUP BY 1, 2
    ON CONFLICT (date, stage) DO UPDATE SET
        count = excluded.count, total_value = excluded.total_value,
        weighted_value = excluded.weighted_value, computed_at = excluded.computed_at
)
SELECT count(*) FROM rows
"""


def _lock() -> None:
    """Serialize the writers of one organization's analytics: concurrent upserts of the same rollup rows
    in different orders could deadlock, and the work would be done twice anyway."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [f"{connection.schema_name}:analytics"]
        )


def _state() -> AnalyticsState:
    state, _ = AnalyticsState.objects.get_or_create(id=1)
    return state


def transitions_ingest(*, batch_size: int = INGEST_BATCH) -> int:
    """Ingest the STAGE_CHANGE activities not yet in StageTransition; returns how many facts were added.

    Each batch commits on its own (a first ingest of millions of changes does not hold one huge
    transaction); a batch is all-or-nothing and a fact is never added twice, so an interrupted run just
    resumes."""
    state = _state()
    after, added = state.activity_watermark, 0
    while True:
        with transaction.atomic():
            _lock()
            with connection.cursor() as cursor:
                cursor.execute(INGEST_SQL, {"after": after, "limit": batch_size, "tz": _tz()})
                inserted, last = cursor.fetchone()
        added += inserted
        if last is None:
            break
        after = last
    _tidy(added)
    with transaction.atomic(), connection.cursor() as cursor:
        # Move past what is both ingested and old enough that no transaction can still be inserting below
        # it (ids are handed out before commit, so a newer id can be visible before an older one).
        cursor.execute(
            f"""
            UPDATE {T["state"]} s SET ingested_at = %(now)s, activity_watermark = greatest(
                s.activity_watermark,
                coalesce((SELECT max(a.id) FROM {T["activity"]} a
                          WHERE a.id > s.activity_watermark AND a.id <= %(after)s
                            AND a.created_at < %(safe)s),
                         s.activity_watermark))
            WHERE s.id = 1
            """,
            {"now": timezone.now(), "after": after, "safe": timezone.now() - WATERMARK_SAFETY},
        )
    return added


def _tidy(added: int) -> None:
    """After upserts into the rollups: VACUUM them (outside a transaction: a job), so that the reports'
    index-only scans need not visit the pages the upserts touched (cheap: only those pages are read), and
    refresh the statistics after a large ingest (plans must not assume the tables are still empty)."""
    if not added:
        return
    large = added >= ANALYZE_AFTER
    tables = f"{T['rollup']}, {T['histogram']}" + (f", {T['fact']}" if large else "")
    if not connection.in_atomic_block:
        command = "VACUUM (ANALYZE)" if large else "VACUUM"
    elif large:
        command = "ANALYZE"
    else:
        return
    with connection.cursor() as cursor:
        cursor.execute(f"{command} {tables}")


@transaction.atomic
def transitions_reconcile(*, lead_ids: list[int]) -> int:
    """Make these leads' facts count exactly when their activity exists and the lead it is on (after a
    merge, the survivor) is live; facts that flip are added to or taken back from the rollups. Facts whose
    activity was purged go. Returns how many facts flipped."""
    ids = sorted({int(lead_id) for lead_id in lead_ids})
    if not ids:
        return 0
    _lock()
    with connection.cursor() as cursor:
        cursor.execute(RECONCILE_SQL, {"lead_ids": ids, "tz": _tz()})
        (flipped,) = cursor.fetchone()
        cursor.execute(
            f"""DELETE FROM {T["fact"]} f WHERE f.lead_id = ANY(%(lead_ids)s) AND NOT f.counted
                AND NOT EXISTS (SELECT 1 FROM {T["activity"]} a WHERE a.id = f.activity_id)""",
            {"lead_ids": ids},
        )
    return int(flipped)


def _today() -> date:
    return organization_today()


@transaction.atomic
def snapshot_take(*, day: date | None = None) -> int:
    """Write the pipeline snapshot of `day` (default today) from the live leads as they are now: one row
    per (stage, owner) with leads, keys that emptied since the last run removed, and the per-stage totals
    (every stage, zeros included). Idempotent. Returns the number of (stage, owner) rows."""
    day = day or _today()
    now = timezone.now()
    _lock()
    with connection.cursor() as cursor:
        params = {"day": day, "now": now, "tz": _tz(), "base_currency": base_currency()}
        cursor.execute(SNAPSHOT_SQL, params)
        (rows,) = cursor.fetchone()
        for statement in CURRENCY_SQL:
            cursor.execute(statement, params)
    AnalyticsState.objects.update_or_create(id=1, defaults={"snapshot_refreshed_at": now})
    return int(rows)


def _clean_range(date_from: Any, date_to: Any) -> tuple[date, date]:
    if not isinstance(date_from, date):
        raise InvalidInput("date_from", "A date is required.")
    if not isinstance(date_to, date):
        raise InvalidInput("date_to", "A date is required.")
    if date_to < date_from:
        raise InvalidInput("date_to", "Must be on or after date_from.")
    if date_to > _today():
        raise InvalidInput("date_to", "Snapshots of days to come cannot be back-filled.")
    if (date_to - date_from).days >= MAX_BACKFILL_DAYS:
        raise InvalidInput("date_from", f"At most {MAX_BACKFILL_DAYS} days at a time.")
    return date_from, date_to


@transaction.atomic
def snapshot_backfill(*, date_from: date, date_to: date) -> int:
    """Rebuild the snapshots of the days from `date_from` to `date_to` (inclusive) from the activity log.

    Rule: a lead that is live now counts on day D if it was created by the end of D, in the stage of its
    last STAGE_CHANGE up to the end of D (NEW if none), under its current owner and value (the log does
    not replay owner or value edits). Replaces what those days held. Returns the (day, stage, owner)
    rows written."""
    date_from, date_to = _clean_range(date_from, date_to)
    tz = organization_zone()
    after = date_to + timedelta(days=1)
    end = datetime(after.year, after.month, after.day, tzinfo=tz)
    _lock()
    with connection.cursor() as cursor:
        cursor.execute(
            BACKFILL_SQL,
            {
                "date_from": date_from,
                "date_to": date_to,
                "after": after,
                "end": end,
                "tz": _tz(),
                "now": timezone.now(),
                "base_currency": base_currency(),
            },
        )
        (rows,) = cursor.fetchone()
    return int(rows)


def analytics_refresh() -> dict[str, int]:
    """Catch up with the activity log, re-take today's snapshot, drop the cached reports."""
    cache.delete(REFRESH_PENDING_KEY)  # changes from now on ask for another run
    started = time.monotonic()
    ingested = transitions_ingest()
    rows = snapshot_take()
    deal_snapshot_take()
    cache_invalidate()
    cache.set(REFRESH_COST_KEY, (time.time(), time.monotonic() - started), timeout=3600)
    return {"ingested": ingested, "snapshot_rows": rows}


def analytics_rebuild() -> dict[str, int]:
    """Forget every fact and rollup and ingest the whole activity log again (after a bulk load that went
    around the services, or a change of the rollup rules). Snapshots of past days are kept."""
    with transaction.atomic():
        _lock()
        with connection.cursor() as cursor:
            cursor.execute(f"TRUNCATE {T['fact']}, {T['rollup']}, {T['histogram']}")
        AnalyticsState.objects.update_or_create(id=1, defaults={"activity_watermark": 0})
    result = analytics_refresh()
    return result


def cache_invalidate() -> None:
    """Every cached report of the active organization becomes unreachable (keys carry the generation)."""
    cache.set(GENERATION_KEY, uuid.uuid4().hex, timeout=None)


def refresh_delay() -> float:
    """Seconds to wait before the next refresh so that one organization's refreshes take at most
    REFRESH_DUTY of a worker's time (a refresh re-reads every lead: ~0.5 s per million); zero while they
    are cheap, i.e. for all but the largest organizations."""
    last = cache.get(REFRESH_COST_KEY)
    if not last:
        return 0.0
    finished, seconds = last
    delay = min(REFRESH_MAX_DELAY, finished + seconds / REFRESH_DUTY - time.time())
    return delay if delay >= REFRESH_MIN_DELAY else 0.0


def refresh_request() -> bool:
    """Queue analytics_refresh for the active organization unless one is already waiting (changes made
    meanwhile are caught by that one), delayed by refresh_delay()."""
    if not cache.add(REFRESH_PENDING_KEY, "1", timeout=REFRESH_PENDING_TTL):
        return False
    _refresh_queue()
    return True


def _refresh_queue() -> None:
    """Queue the refresh this caller claimed (REFRESH_PENDING_KEY), delayed by refresh_delay()."""
    delay = refresh_delay()
    enqueue_in_organization(
        connection.schema_name,
        "tenant_apps.analytics.jobs.analytics_refresh",
        queue="low",
        delay=timedelta(seconds=delay) if delay else None,
    )


# Lead events that change nothing the reports count (timeline entries).
QUIET_EVENTS = frozenset({"note_added", "activity_logged", "email_recorded"})
# Lead events after which a lead's facts may have to stop or start counting.
RECONCILE_EVENTS = frozenset({"lead.deleted", "lead.restored", "lead.purged", "lead.merged"})


def _invalidate_and_claim_refresh() -> bool:
    """cache_invalidate() and refresh_request()'s claim in one round trip: True if this caller claimed the
    refresh (no refresh was waiting), and must queue it."""
    client = cache._cache.get_client(write=True)  # type: ignore[attr-defined]
    dumps = cache._cache._serializer.dumps  # type: ignore[attr-defined]
    pipe = client.pipeline(transaction=False)
    pipe.set(cache.make_key(GENERATION_KEY), dumps(uuid.uuid4().hex))
    pipe.set(cache.make_key(REFRESH_PENDING_KEY), dumps("1"), ex=REFRESH_PENDING_TTL, nx=True)
    return bool(pipe.execute()[1])


def on_lead_event(event: DomainEvent) -> None:
    if event.topic.rsplit(".", 1)[-1] in QUIET_EVENTS:
        return
    with organization_context(event.schema_name):
        claimed = _invalidate_and_claim_refresh()
        if event.topic in RECONCILE_EVENTS:
            merged = [i for i in event.data.get("merged_ids", []) if isinstance(i, int)]
            enqueue_in_organization(
                event.schema_name,
                "tenant_apps.analytics.jobs.analytics_reconcile_leads",
                [event.record_id, *merged],
                queue="low",
            )
        if claimed:
            _refresh_queue()


def on_opportunity_event(event: DomainEvent) -> None:
    if event.topic.rsplit(".", 1)[-1] in QUIET_EVENTS:
        return
    with organization_context(event.schema_name):
        cache_invalidate()  # the forecast reads opportunities directly: nothing to recompute


def on_exchange_rate_event(event: DomainEvent) -> None:
    """Snapshots hold values in the base currency: a rate change recomputes today's and drops cached reports
    (back-filled days keep the rates they were computed with until back-filled again)."""
    with organization_context(event.schema_name):
        cache_invalidate()
        refresh_request()


_subscribed: list[Any] = []


def subscribe_to_events() -> None:
    """Called once from AppConfig.ready()."""
    if not _subscribed:
        _subscribed.append(subscribe("lead.", on_lead_event))
        _subscribed.append(subscribe("opportunity.", on_opportunity_event))
        _subscribed.append(subscribe("exchange_rate.", on_exchange_rate_event))
