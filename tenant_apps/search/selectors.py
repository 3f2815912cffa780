# ruff: noqa: S608  (SQL from model tables, columns and compiled querysets; every value is a parameter)
"""Search across record types: full-text (stored weighted tsvectors, prefix matching for type-ahead), exact
emails and phone numbers first, misspelled words corrected against the organization's vocabulary, ranked
together over a bounded candidate set per type and kind of match, with the usual filters. Deleted and
merged records never appear (each type's `.alive()`), and every query is bounded by an index and a LIMIT."""

from __future__ import annotations

import hashlib
import html
import re
import unicodedata
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from functools import cache
from typing import Any, NamedTuple

from django.contrib.postgres.search import SearchQuery
from django.db.models import BooleanField, Func, Q, QuerySet

from shared_apps.core.db import connection
from shared_apps.core.errors import InvalidInput
from shared_apps.core.search import first_word_key, prefix_key, rest_key
from shared_apps.users.models import User
from tenant_apps.accounts.models import Account
from tenant_apps.activities.models import Activity, ActivityType, Note
from tenant_apps.contacts.models import Contact
from tenant_apps.leads.models import Lead
from tenant_apps.opportunities.models import Opportunity
from tenant_apps.records import normalize, visibility

MIN_QUERY_CHARS = 2
MAX_QUERY_CHARS = 200
MAX_TERMS = 8
MAX_PAGES = 10
EXACT_KEYS = ("email", "phone_normalized")
# Misspellings are corrected against the organization's vocabulary (search.SearchWord: the distinct words of
# names and companies, a few thousand where records are a million): the words trigram-similar to a term
# (a low threshold: one swapped pair of letters in "garcia" leaves 0.27) are the candidates, and those at
# the fewest edits (Damerau-Levenshtein, at most EDITS by length) replace it in the full-text query.
VOCABULARY_THRESHOLD = 0.15
VOCABULARY_CANDIDATES = 64
ALTERNATIVES = 4
# Matches ranked per type and per kind of match (full text, fuzzy): ranking every match of "smith" or of a
# two-letter prefix at a million records reads thousands of rows for the same first page; the candidates
# are the first the index yields, which holds every match of any specific query.
CANDIDATES = 100
EXACT_RANK = 3.0  # an exact email or phone number: above every full-text hit (1 + ts_rank)
START, STOP = "\x01", "\x02"  # markers for ts_headline, turned into <mark> after HTML-escaping


class TrigramMatch(Func):
    """`a % b`: pg_trgm similarity above the threshold, served by the (folded) trigram GIN indexes."""

    arg_joiner = " %% "
    template = "(%(expressions)s)"
    output_field = BooleanField()


@dataclass(frozen=True)
class SearchType:
    model: Any
    title: str  # field shown as the result's title
    snippet_fields: tuple[str, ...]
    fuzzy_fields: tuple[str, ...]  # trigram-indexed (folded) fields
    stage_field: str | None = None
    exact_fields: tuple[str, ...] = ()  # email / phone_normalized: an exact value is the first hit


TYPES: dict[str, SearchType] = {
    "lead": SearchType(
        Lead,
        "name",
        ("name", "company", "email"),
        ("name", "company"),
        "stage",
        ("email", "phone_normalized"),
    ),
    "contact": SearchType(Contact, "name", ("name", "email", "title"), ("name",), exact_fields=EXACT_KEYS),
    "account": SearchType(Account, "name", ("name", "domain", "industry"), ("name",)),
    "opportunity": SearchType(Opportunity, "name", ("name",), ("name",), "stage"),
    "note": SearchType(Note, "body", ("body",), ()),
    # emails (subject and body), calls and meetings (their notes); the rest of a timeline is the app's own
    "activity": SearchType(Activity, "subject", ("subject", "body"), ()),
}
SEARCHED_ACTIVITIES = (ActivityType.EMAIL, ActivityType.CALL, ActivityType.MEETING)
HANGING = ("note", "activity")  # rows on a record: no owner, tags or stage of their own
# Type-ahead ranges (b-tree indexes of tenant_apps.records.models.prefix_indexes), the best first: a person
# whose first name begins with the first term and whose surname with the rest ("sof no": Sofia Novak), a
# surname or a company that begins with the text, a name that does. Each is read in key order, k rows at
# most, whatever the prefix's popularity.
PERSON, REST, WHOLE = "person", "rest", "whole"
BEGINS: dict[str, tuple[tuple[str, str, float], ...]] = {
    "lead": ((PERSON, "name", 0.8), (REST, "name", 0.6), (WHOLE, "company", 0.4)),
    "contact": ((PERSON, "name", 0.8), (REST, "name", 0.6)),
    "account": ((WHOLE, "name", 0.8),),
    "opportunity": ((WHOLE, "name", 0.8),),
}
BEGINS_STEP = 10_000.0  # rank = floor + base - position / BEGINS_STEP: key order kept, each base apart
BEGUN_FLOOR = 2.0  # what the text begins: above every other full-text hit (1 + ts_rank), below exact keys
CORRECTED_FLOOR = 0.1  # what the corrected text begins: below every full-text hit, above the other fuzzy ones


def fold(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()


def exact_values(text: str) -> dict[str, str]:
    """The query as an email address or a phone number (normalized as stored), when it is one."""
    if "@" in text and " " not in text:
        try:
            return {"email": normalize.email(text)}
        except InvalidInput:
            return {}
    if re.fullmatch(r"[\d\s()+.\-/]+", text) and len(re.sub(r"\D", "", text)) >= 7:
        try:
            return {"phone_normalized": normalize.phone(text)}
        except InvalidInput:
            return {}
    return {}


def parse_query(q: Any) -> tuple[str, list[str]]:
    """The cleaned text and its search terms; refuses what can only be a mistake or an attack."""
    if not isinstance(q, str) or not q.strip():
        raise InvalidInput("q", "A search text is required.", code="required")
    if "\x00" in q:
        raise InvalidInput("q", "NUL characters are not allowed.")
    q = " ".join(q.split())
    if len(q) > MAX_QUERY_CHARS:
        raise InvalidInput("q", f"At most {MAX_QUERY_CHARS} characters.", code="max_length")
    if len(q) < MIN_QUERY_CHARS:
        raise InvalidInput("q", f"At least {MIN_QUERY_CHARS} characters.", code="min_length")
    terms = re.findall(r"[a-z0-9]+", fold(q))[:MAX_TERMS]
    return q, terms


def _owner_filter(value: Any, actor: User | None) -> Q:
    if value == "me":
        return Q(owner_id=actor.pk if actor else None)
    if value == "none":
        return Q(owner__isnull=True)
    return Q(owner_id=value)


def _scope(
    kind: str, spec: SearchType, *, filters: dict[str, Any], actor: User | None
) -> QuerySet[Any] | None:
    """The rows of one type the actor may find with these filters (None: none of this type can match)."""
    # the same visibility as the lists (one policy): a rep finds only the leads, deals and notes they may open
    rows = visibility.records_for(kind, actor)
    if kind == "activity":
        rows = rows.filter(type__in=SEARCHED_ACTIVITIES)
    if kind in HANGING:
        rows = rows.filter(
            Q(lead__deleted_at__isnull=True, lead__merged_into__isnull=True)
            | Q(contact__deleted_at__isnull=True, contact__merged_into__isnull=True)
            | Q(account__deleted_at__isnull=True, account__merged_into__isnull=True)
            | Q(opportunity__deleted_at__isnull=True, opportunity__merged_into__isnull=True)
        )
    else:
        rows = rows.alive()
    if filters.get("stage"):
        if spec.stage_field is None:
            return None  # this type has no stage: nothing of it can match a stage filter
        rows = rows.filter(**{f"{spec.stage_field}__in": filters["stage"]})
    if filters.get("owner") not in (None, ""):
        if kind in HANGING:
            return None
        rows = rows.filter(_owner_filter(filters["owner"], actor))
    if filters.get("tag"):
        if kind in HANGING:
            return None
        rows = rows.filter(tags__contains=[filters["tag"]])
    if filters.get("created_after"):
        rows = rows.filter(created_at__gte=filters["created_after"])
    if filters.get("created_before"):
        rows = rows.filter(created_at__lt=filters["created_before"])
    return rows


def text_query(text: str, terms: list[str]) -> SearchQuery:
    """The full-text query: an email address or a phone number as written (the simple parser keeps an
    address as one word), otherwise every term as a prefix ("jan do" finds "Jane Doe" as it is typed)."""
    if exact_values(text):
        return SearchQuery(text, search_type="plain", config="simple")
    return SearchQuery(_prefixes(terms), search_type="raw", config="simple")


def _prefixes(terms: list[str]) -> str:
    return " & ".join(f"{term}:*" for term in terms)


SHORT_PREFIX = 2  # a prefix this short matches a large share of every table


@dataclass(frozen=True)
class TextMatch:
    """The full-text condition as SQL over a scope's row `s` (its `search_vector`), and the query ts_rank
    ranks by. A very short prefix ("mia no") is not looked up in the GIN index (its posting lists are a good
    part of the table, and the index reads all of them before the LIMIT applies): the longer terms find the
    candidates, and the short ones filter them (`strip(...)`: the same test, which no index serves). So does
    a term no word of the vocabulary begins ("mia nvoak": "nvoak:*" alone finds the candidates, "mia:*"
    filters them; the bitmap of every "mia" is never built): the matches are the same, found cheaper."""

    condition: str
    params: tuple[Any, ...]
    rank_query: str  # SQL of the tsquery ts_rank uses
    rank_params: tuple[Any, ...]


def _tsquery(raw: str) -> tuple[str, tuple[Any, ...]]:
    return "to_tsquery('simple'::regconfig, %s)", (raw,)


def text_match(text: str, terms: list[str], rare: list[str] | None = None) -> TextMatch:
    """`rare`: terms known to be rare (no word of the vocabulary begins them), looked up alone."""
    if exact_values(text):
        query, params = "plainto_tsquery('simple'::regconfig, %s)", (text,)
        return TextMatch(f"s.search_vector @@ {query}", params, query, params)
    query, params = _tsquery(_prefixes(terms))
    longer = [term for term in terms if len(term) > SHORT_PREFIX]
    longer = [term for term in longer if term in (rare or ())] or longer
    if not longer or len(longer) == len(terms):
        return TextMatch(f"s.search_vector @@ {query}", params, query, params)
    indexed, indexed_params = _tsquery(_prefixes(longer))
    return TextMatch(
        f"s.search_vector @@ {indexed} AND strip(s.search_vector) @@ {query}",
        indexed_params + params,
        query,
        params,
    )


# The SQL of each type's scope (its visibility policy, alive rows, the filters), compiled once per policy
# key (tenant_apps.records.visibility.policy_key), type and filters: building and compiling six querysets
# costs more than the search's own SQL. The SQL names no schema (the connection's search_path does).
_SCOPES: dict[tuple[Any, ...], tuple[str, tuple[Any, ...]] | None] = {}
SCOPES_KEPT = 512
_UNKNOWN = object()


def _frozen(value: Any) -> Any:
    if isinstance(value, dict):
        return tuple(sorted((key, _frozen(item)) for key, item in value.items()))
    if isinstance(value, list | tuple | set):
        return tuple(_frozen(item) for item in value)
    return value


def _key_annotations(kind: str) -> dict[str, Any]:
    """The type-ahead keys of BEGINS, as the scope's columns k_first_<field>, k_rest_<field>, k_whole_<field>:
    the same expressions as the indexes, so that a range over the (flattened) scope is an index range."""
    keys: dict[str, Any] = {}
    for how, field, _base in BEGINS.get(kind, ()):
        if how == PERSON:
            keys[f"k_first_{field}"] = first_word_key(field)
        if how in (PERSON, REST):
            keys[f"k_rest_{field}"] = rest_key(field)
        if how == WHOLE:
            keys[f"k_whole_{field}"] = prefix_key(field)
    return keys


def _after(prefix: str) -> str:
    """The least key above every key `prefix` begins (the terms are [a-z0-9]: the last one plus one)."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


def _begun(
    kind: str, scope: tuple[str, tuple[Any, ...]], terms: list[str], limit: int, floor: float = BEGUN_FLOOR
) -> Part:
    """(id, kind, rank) of one type's best `limit` records whose name, surname or company begins with the
    text (BEGINS), each range an index range read in key order and stopped at `limit` rows; a record in
    two ranges keeps its best rank (floor + the range's base - its position / BEGINS_STEP)."""
    scope_sql, scope_params = scope
    text = " ".join(terms)
    ranges: list[str] = []
    params: list[Any] = []
    for how, field, base in BEGINS[kind]:
        if how == PERSON:
            columns = [f"k_first_{field}", f"k_rest_{field}"]
            bounds = [terms[0]] + ([" ".join(terms[1:])] if len(terms) > 1 else [])
        else:
            columns = [f"k_{how}_{field}"]
            bounds = [text]
        condition = " AND ".join(f"s.{column} >= %s AND s.{column} < %s" for column in columns[: len(bounds)])
        inner = ", ".join(f"s.{column}" for column in columns)
        outer = ", ".join(f"r.{column}" for column in columns)
        ranges.append(
            f"(SELECT r.pk, ({floor + base} - row_number() OVER (ORDER BY {outer}, r.pk) "
            f"/ {BEGINS_STEP})::float8 AS rank FROM (SELECT s.pk, {inner} FROM ({scope_sql}) s "
            f"WHERE {condition} ORDER BY {inner} LIMIT %s) r)"
        )
        params += [*scope_params, *(value for bound in bounds for value in (bound, _after(bound))), limit]
    sql = (
        f"(SELECT d.pk, %s::text, d.rank FROM (SELECT DISTINCT ON (u.pk) u.pk, u.rank FROM "
        f"({' UNION ALL '.join(ranges)}) u ORDER BY u.pk, u.rank DESC) d "
        "ORDER BY d.rank DESC, d.pk DESC LIMIT %s)"
    )
    return Part(kind, sql, [kind, *params, limit])


def _scope_sql(
    kind: str, *, filters: dict[str, Any], actor: User | None
) -> tuple[str, tuple[Any, ...]] | None:
    """`SELECT pk, search_vector[, exact fields] FROM ... WHERE <scope>` for one type, or None."""
    owner = filters.get("owner")
    key = (
        kind,
        visibility.policy_key(actor),
        _frozen(filters),
        # "me" is the actor: part of the SQL whatever the policy
        actor.pk if owner == "me" and actor is not None else None,
    )
    kept = _SCOPES.get(key, _UNKNOWN)  # one read: another thread may clear the dict at any time
    if kept is not _UNKNOWN:
        return kept  # type: ignore[return-value]
    spec = TYPES[kind]
    rows = _scope(kind, spec, filters=filters, actor=actor)
    compiled = None
    if rows is not None:
        keys = _key_annotations(kind)
        sql, params = (
            rows.order_by()
            .annotate(**keys)
            .values("pk", "search_vector", *spec.exact_fields, *keys)
            .query.sql_with_params()
        )
        # the scope's values as literals (a % as %%: the statement is formatted with the search's own
        # parameters): a prepared statement's generic plan then knows them (GENERIC; with "type IN ($1,
        # $2, $3)" it read two million activities by type instead of the GIN index), and only the terms,
        # the ids to skip and the limits are its parameters
        compiled = (connection.ops.compose_sql(sql, params).replace("%", "%%"), ())
    if len(_SCOPES) >= SCOPES_KEPT:
        _SCOPES.clear()
    _SCOPES[key] = compiled
    return compiled


def _bounded(
    kind: str,
    scope: tuple[str, tuple[Any, ...]],
    match: TextMatch,
    skip: list[int],
    limit: int,
    rank: str,
) -> Part:
    """(id, kind, rank) of one type's best `limit` matches, ts_rank computed over at most CANDIDATES (or the
    page's depth) of them, in whatever order the index yields them: never every match of a common name or
    a two-letter prefix. `rank`: SQL of the hit's rank from ts_rank `c.r` (full text 1 + c.r, above every
    fuzzy hit)."""
    scope_sql, scope_params = scope
    exclude = " AND s.pk <> ALL(%s)" if skip else ""
    sql = (
        f"(SELECT c.pk, %s::text, {rank} AS rank FROM ("
        f"SELECT s.pk, ts_rank(s.search_vector, {match.rank_query}) AS r FROM ({scope_sql}) s "
        f"WHERE {match.condition}{exclude} LIMIT %s) c ORDER BY rank DESC, c.pk DESC LIMIT %s)"
    )
    params = [kind, *match.rank_params, *scope_params, *match.params]
    if skip:
        params.append(skip)
    params += [max(CANDIDATES, limit), limit]
    return Part(kind, sql, params)


def _keyed(kind: str, scope: tuple[str, tuple[Any, ...]], keys: dict[str, str], limit: int) -> Part:
    """(id, kind, EXACT_RANK) of the rows holding an exact key (their b-tree indexes)."""
    scope_sql, scope_params = scope
    # "<> ''" spelled as the partial indexes' predicate: a generic plan (GENERIC) cannot prove that a
    # parameter is not empty, and without it read a million leads instead of the email index
    condition = " OR ".join(f"""(s."{field}" = %s AND NOT (s."{field}" = ''))""" for field in keys)
    sql = (
        f"(SELECT s.pk, %s::text, %s::float8 AS rank FROM ({scope_sql}) s WHERE {condition} "
        "ORDER BY s.pk DESC LIMIT %s)"
    )
    return Part(kind, sql, [kind, EXACT_RANK, *scope_params, *keys.values(), limit])


# Every match comes from an index's bitmap (GIN for text, b-tree for exact keys): with a LIMIT and a
# misjudged selectivity ("garcia:*" over five million activities is estimated at 8,000 rows, it has none)
# the planner prefers reading a table or walking a b-tree in the hope of stopping early, and takes seconds;
# parallel workers cost more to start than these bounded queries take.
PLANNER = (
    "SET LOCAL enable_seqscan = off; SET LOCAL enable_indexscan = off; "
    "SET LOCAL max_parallel_workers_per_gather = 0; "
    f"SET LOCAL pg_trgm.similarity_threshold = {VOCABULARY_THRESHOLD}; "
)


# The type-ahead ranges (_begun) are index scans in key order stopped by their LIMIT: the one plan that reads
# k rows of a range of any size.
ORDERED = "SET LOCAL enable_indexscan = on; "
# Planning a page's statement (six types' scopes, ranges and snippets: 8,000 characters of SQL) took 2-9 ms
# at 1M leads where running it took 0.4-2: each statement is PREPAREd once per connection (its name a hash
# of its SQL and of the settings it is planned under) and EXECUTEd with the terms as parameters, on a
# generic plan (plan_cache_mode: the statements' plans are fixed by the settings above, bitmap scans of
# the GIN and ordered ranges of the b-trees, whatever the terms; a custom plan per call would cost the
# planning again). The SQL names no schema: PostgreSQL re-analyzes a prepared statement when search_path
# differs from the one it was planned under, so an organization never runs another's plan.
GENERIC = "SET LOCAL plan_cache_mode = force_generic_plan; "
# per connection, the least recently used deallocated past it (a six types' plan holds ~0.7 MB of the backend)
PREPARED_KEPT = 32
_prepared: weakref.WeakKeyDictionary[Any, OrderedDict[str, None]] = weakref.WeakKeyDictionary()


class Statement(NamedTuple):
    sql: str
    params: list[Any]
    ordered: bool = False  # index scans allowed (ORDERED) from this statement on


def _ordered(statement: Statement) -> Statement:
    """The statement with index scans allowed (ORDERED) from there on, in a round trip of several."""
    return statement._replace(ordered=True)


def _numbered(sql: str) -> str:
    """Django's placeholders as PREPARE's ($1, $2, ...); a literal % stays %% (the whole string is formatted
    with the EXECUTE's parameters)."""
    count = iter(range(1, 1_000_000))
    return re.sub(r"%s|%%", lambda found: found[0] if found[0] == "%%" else f"${next(count)}", sql)


def _executed(statement: Statement, settings: str, prepared: OrderedDict[str, None]) -> tuple[str, str]:
    """(SQL, name): EXECUTE of the statement's prepared form, PREPAREd first on a connection that has not
    got it (and the least recently used one deallocated past PREPARED_KEPT)."""
    name = (
        "lp_search_"
        + hashlib.sha1((settings + statement.sql).encode(), usedforsecurity=False).hexdigest()[:20]
    )
    execute = (
        f"EXECUTE {name}({', '.join(['%s'] * len(statement.params))})"
        if statement.params
        else f"EXECUTE {name}"
    )
    if name in prepared:
        prepared.move_to_end(name)
        return execute, name
    sql = f"PREPARE {name} AS {_numbered(statement.sql)}; {execute}"
    if len(prepared) >= PREPARED_KEPT:
        oldest, _ = prepared.popitem(last=False)
        sql = f"DEALLOCATE {oldest}; {sql}"
    return sql, name


def _fetch(*statements: Statement, ordered: bool = False) -> list[list[tuple[Any, ...]]]:
    """The rows of each read-only statement, run under the PLANNER settings in ONE round trip: in their own
    transaction (BEGIN ... COMMIT in the same string), or inside the caller's in a savepoint rolled back
    afterwards, so that the settings never outlive them. `ordered`: index scans allowed (ORDERED), for
    statements whose every range is read in an index's order up to a LIMIT. Each statement is a prepared
    one (GENERIC)."""
    if connection.in_atomic_block:
        head = "SAVEPOINT lp_search; "
        undo = "ROLLBACK TO SAVEPOINT lp_search; RELEASE SAVEPOINT lp_search"
        tail = f"; {undo}"
    else:
        head, tail, undo = "BEGIN; ", "; COMMIT", "ROLLBACK"
    connection.ensure_connection()
    prepared = _prepared.setdefault(connection.connection, OrderedDict())
    settings = PLANNER + GENERIC + (ORDERED if ordered else "")
    parts, names = [], []
    for statement in statements:
        if statement.ordered and ORDERED not in settings:
            settings += ORDERED
            parts.append(ORDERED.rstrip("; "))
        sql, name = _executed(statement, settings, prepared)
        parts.append(sql)
        names.append(name)
    sql = head + PLANNER + GENERIC + (ORDERED if ordered else "") + "; ".join(parts) + tail
    results: list[list[tuple[Any, ...]]] = []
    with connection.cursor() as cursor:
        try:
            cursor.execute(sql, [param for statement in statements for param in statement.params])
        except Exception:
            cursor.execute(undo)
            # PREPARE is not undone by a rollback, and a failed string may have stopped before some
            cursor.execute("SELECT name FROM pg_prepared_statements WHERE starts_with(name, 'lp_search_')")
            prepared.clear()
            prepared.update((name, None) for (name,) in cursor.fetchall())
            raise
        for name in names:
            prepared[name] = None
        while True:
            if cursor.description is not None:
                results.append(cursor.fetchall())
            if not cursor.nextset():
                return results


ANCHORS = ("lead", "contact", "account", "opportunity")
HEADLINE = f"StartSel='{START}', StopSel='{STOP}', MaxWords=30, MinWords=10"


@dataclass(frozen=True)
class Hit:
    rank: float
    kind: str
    id: int
    shown: dict[str, Any] | None  # title, snippet, created_at[, record]: for the rows of the page only


class Part(NamedTuple):
    """One type's hits as a parenthesized, ordered and limited SELECT of (id, kind, rank)."""

    kind: str
    sql: str
    params: list[Any]


@cache
def _shown(kind: str) -> str:
    """SQL of a hit's title, highlighted snippet, creation time and anchors, for hit `h` of this type."""
    spec = TYPES[kind]
    fields = spec.model._meta
    # "name · company · email", skipping empty fields
    text = ", ".join(f"NULLIF(r.\"{fields.get_field(name).column}\", '')" for name in spec.snippet_fields)
    anchors = ", ".join(f'r."{anchor}_id"' if kind in HANGING else "NULL::bigint" for anchor in ANCHORS)
    return (
        f'SELECT r."{fields.get_field(spec.title).column}"::text, '
        f"ts_headline('simple'::regconfig, concat_ws(' · ', {text}), "
        f"to_tsquery('simple'::regconfig, %s), %s), r.created_at, {anchors} FROM \"{fields.db_table}\" r "
        "WHERE h.kind = %s AND h.n > %s AND h.n <= %s AND r.id = h.pk"
    )


def _page(parts: list[Part], *, terms: list[str], start: int, stop: int, before: int = 0) -> Statement:
    """One statement for every type's part (UNION ALL): all their hits, best first, and for the hits at
    positions start < n <= stop (counting `before` better hits found earlier) what the page shows: the title,
    the highlighted snippet (ts_headline, costly: the page's rows only), the creation time and the record a
    note or an activity is on."""
    kinds = list(dict.fromkeys(part.kind for part in parts))
    query = " | ".join(f"{term}:*" for term in terms)
    sql = (
        f"WITH hits (pk, kind, rank) AS ({' UNION ALL '.join(part.sql for part in parts)}), "
        "numbered AS (SELECT pk, kind, rank, "
        'row_number() OVER (ORDER BY rank DESC, kind COLLATE "C", pk DESC) + %s AS n FROM hits) '
        "SELECT h.pk, h.kind, h.rank, v.* FROM numbered h "
        f"LEFT JOIN LATERAL ({' UNION ALL '.join(_shown(kind) for kind in kinds)}) v ON true ORDER BY h.n"
    )
    params = [param for part in parts for param in part.params]
    params.append(before)
    for kind in kinds:
        params += [query, HEADLINE, kind, start, stop]
    return Statement(sql, params)


def _hits(rows: list[tuple[Any, ...]]) -> list[Hit]:
    hits = []
    for record_id, kind, rank, title, snippet, created_at, *anchored in rows:
        shown = None
        if snippet is not None:
            shown = {
                "title": str(title)[:200],
                "snippet": html.escape(snippet).replace(START, "<mark>").replace(STOP, "</mark>"),
                "created_at": created_at,
                **_links(anchored),
            }
        hits.append(Hit(float(rank), str(kind), int(record_id), shown))
    return hits


def _links(anchored: list[int | None]) -> dict[str, Any]:
    """For a note or an activity: the record it is on."""
    for anchor, anchor_id in zip(ANCHORS, anchored, strict=True):
        if anchor_id:
            return {"record": {"type": anchor, "id": anchor_id}}
    return {}


def _matches(
    *,
    text: str,
    terms: list[str],
    types: list[str],
    filters: dict[str, Any],
    actor: User | None,
    start: int,
    stop: int,
) -> list[Hit]:
    """Up to `stop + 1` ranked hits of each type, those at positions start < n <= stop shown: exact keys
    (rank 3), else what the text begins (2-3: b-tree ranges), then full text (1 + ts_rank), then, when those
    left the page short, what the corrected text adds (< 1: every fuzzy hit ranks below every full-text
    one). One round trip for each of the three phases at most, the words to correct looked up beside the
    ranges."""
    limit = stop + 1
    scopes = {}
    for kind in types:
        scope = _scope_sql(kind, filters=filters, actor=actor)
        if scope is not None:
            scopes[kind] = scope
    if not scopes:
        return []
    # An exact email or phone number (the keys' b-tree indexes): when it is some record's, those records
    # are the answer, first and alone.
    exact = exact_values(text)
    if exact:
        parts = []
        for kind, scope in scopes.items():
            keys = {field: value for field, value in exact.items() if field in TYPES[kind].exact_fields}
            if keys:
                parts.append(_keyed(kind, scope, keys, limit))
        if parts:
            [keyed] = _fetch(_page(parts, terms=terms, start=start, stop=stop))
            if keyed:
                return _hits(keyed)
        return _searched(text, terms, scopes, start=start, stop=stop)
    # What the text begins (a name, a surname, a company): index ranges in key order, ranked above every other
    # full-text hit; when they fill the page, no GIN index is read at all. The words to correct are looked
    # up beside them.
    words = correctable(terms) if any(TYPES[kind].fuzzy_fields for kind in scopes) else []
    parts = [_begun(kind, scope, terms, limit) for kind, scope in scopes.items() if kind in BEGINS]
    if not parts:
        return _searched(text, terms, scopes, start=start, stop=stop)
    rows, *candidates = _fetch(
        _page(parts, terms=terms, start=start, stop=stop),
        *([_vocabulary(words)] if words else []),
        ordered=True,
    )
    begun = _hits(rows)
    if len(begun) >= limit:
        return begun
    fixes = corrections(words, candidates[0]) if words else {}
    return _searched(
        text,
        terms,
        scopes,
        start=start,
        stop=stop,
        begun=begun,
        fixes=fixes,
        corrected=corrected_text(terms, fixes, candidates[0]) if words else [],
        rare=unknown_terms(terms, fixes, candidates[0]) if words else [],
    )


def _searched(
    text: str,
    terms: list[str],
    scopes: dict[str, tuple[str, tuple[Any, ...]]],
    *,
    start: int,
    stop: int,
    begun: list[Hit] | None = None,
    fixes: dict[str, list[str]] | None = None,
    corrected: list[str] | None = None,
    rare: list[str] | None = None,
) -> list[Hit]:
    """After the type-ahead ranges (`begun`) left the page short: full text (1 + ts_rank over a bounded
    candidate set per type, so that a common name or a short prefix costs what a rare one does), and in the
    same round trip what the corrected text begins (CORRECTED_FLOOR: index ranges again); then, only when
    the page is still short, the corrected full-text query (< 0.5: below every other hit)."""
    limit = stop + 1
    begun, fixes = begun or [], fixes or {}
    found: dict[str, list[int]] = {kind: [] for kind in scopes}
    for hit in begun:
        found[hit.kind].append(hit.id)
    full_text = _page(
        [
            _bounded(
                kind,
                scope,
                text_match(text, terms, rare),
                found[kind],
                limit - len(begun),
                "1.0::float8 + c.r",
            )
            for kind, scope in scopes.items()
        ],
        terms=terms,
        start=start,
        stop=stop,
        before=len(begun),
    )
    parts = [
        _begun(kind, scope, corrected, limit, CORRECTED_FLOOR)
        for kind, scope in scopes.items()
        if corrected and kind in BEGINS
    ]
    if not corrected or not parts:
        [ranked] = _fetch(full_text)
        hits = begun + _hits(ranked)
        if not fixes:
            return hits
    else:
        # every row of the corrected ranges rendered (their positions follow the full text's, not known yet)
        ranked, near = _fetch(full_text, _ordered(_page(parts, terms=corrected, start=0, stop=limit)))
        hits = begun + _hits(ranked)
        seen = {(hit.kind, hit.id) for hit in hits}
        hits += [hit for hit in _hits(near) if (hit.kind, hit.id) not in seen]
    for hit in hits[len(begun) :]:
        found[hit.kind].append(hit.id)
    short = [kind for kind in scopes if TYPES[kind].fuzzy_fields and len(found[kind]) < limit]
    if not short or len(hits) >= limit:
        return hits
    # Misspelled words OR-ed with their nearest words of the vocabulary: full text again, over a bounded
    # candidate set, ranked below every exact and full-text hit.
    query_text = fuzzy_query(terms, fixes)
    if query_text is None:
        return hits
    query, params = _tsquery(query_text)
    fuzzy = TextMatch(f"s.search_vector @@ {query}", params, query, params)
    parts = [
        _bounded(kind, scopes[kind], fuzzy, found[kind], limit - len(found[kind]), "0.49 * c.r / (1.0 + c.r)")
        for kind in short
    ]
    [more] = _fetch(_page(parts, terms=terms, start=start, stop=stop, before=len(hits)))
    return hits + _hits(more)


def edits(a: str, b: str) -> int:
    """Damerau-Levenshtein distance (optimal string alignment): a swapped pair of letters is one edit."""
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        current = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = a[i - 1] != b[j - 1]
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                current[j] = min(current[j], previous2[j - 2] + 1)
        previous2, previous = previous, current
    return previous[len(b)]


def _budget(term: str) -> int:
    return 1 if len(term) <= 6 else 2


def correctable(terms: list[str]) -> list[str]:
    """The terms a misspelling may hide in: three characters or more, not only digits."""
    return [term for term in dict.fromkeys(terms) if len(term) >= 3 and not term.isdigit()]


def _vocabulary(words: list[str]) -> Statement:
    """(term, word): the vocabulary's words trigram-similar to each term, the most similar first."""
    return Statement(
        "SELECT t.term, w.word FROM unnest(%s::text[]) AS t(term) CROSS JOIN LATERAL ("
        "SELECT word FROM search_searchword WHERE word %% t.term "
        "ORDER BY similarity(word, t.term) DESC, word LIMIT %s) AS w",
        [words, VOCABULARY_CANDIDATES],
    )


def corrections(words: list[str], candidates: list[tuple[Any, ...]]) -> dict[str, list[str]]:
    """Each word's nearest other words among its candidates from the vocabulary, at most ALTERNATIVES. A word
    the term is a prefix of is no correction: the term's prefix query finds it already."""
    found: dict[str, list[str]] = {}
    for term in words:
        near = sorted(
            (distance, word)
            for candidate_term, word in candidates
            if candidate_term == term
            and not word.startswith(term)
            and (distance := edits(term, word)) <= _budget(term)
        )
        if near:  # the words at the fewest edits (a correctly spelled term's close neighbours too)
            best = near[0][0]
            found[term] = [word for distance, word in near if distance == best][:ALTERNATIVES]
    return found


def corrected_text(
    terms: list[str], fixes: dict[str, list[str]], candidates: list[tuple[Any, ...]]
) -> list[str]:
    """The terms with each misspelled one replaced by its nearest word (the type-ahead ranges read it as
    typed), or [] when none is: a term some word of the vocabulary begins is spelled right, whatever its
    neighbours ("jana" stays, though "ana" is one edit away)."""
    begun = {term for term, word in candidates if word.startswith(term)}
    corrected = [fixes[term][0] if term in fixes and term not in begun else term for term in terms]
    return corrected if corrected != terms else []


def unknown_terms(
    terms: list[str], fixes: dict[str, list[str]], candidates: list[tuple[Any, ...]]
) -> list[str]:
    """The misspelled terms (corrected_text's): no word of the vocabulary begins them."""
    begun = {term for term, word in candidates if word.startswith(term)}
    return [term for term in terms if term in fixes and term not in begun]


def fuzzy_query(terms: list[str], fixes: dict[str, list[str]]) -> str | None:
    """The full-text query (to_tsquery's text) with each misspelled term OR-ed with its corrections; None
    when no term has a correction (the query is then the plain one, already run)."""
    if not fixes:
        return None
    return " & ".join("(" + " | ".join([f"{term}:*", *fixes.get(term, [])]) + ")" for term in terms)


def match_count(*, actor: User | None, q: Any, types: list[str], filters: dict[str, Any]) -> int:
    """How many records of these types match the text (full text and exact keys; misspellings are not
    counted): a count over every match, so only computed when a client asks for it."""
    text, terms = parse_query(q)
    if not terms:
        return 0
    total = 0
    query = text_query(text, terms)
    for kind in types:
        spec = TYPES[kind]
        rows = _scope(kind, spec, filters=filters, actor=actor)
        if rows is None:
            continue
        match = Q(search_vector=query)
        for field, value in exact_values(text).items():
            if field in spec.exact_fields and value:
                match |= Q(**{field: value})
        total += rows.filter(match).count()
    return total


def search(
    *,
    actor: User | None,
    q: Any,
    types: list[str],
    filters: dict[str, Any],
    page: int = 1,
    page_size: int = 20,
) -> dict[str, Any]:
    text, terms = parse_query(q)
    if not terms:  # only punctuation or symbols: nothing can match, and nothing is scanned
        return {"results": [], "page": page, "has_more": False}
    page = max(1, min(page, MAX_PAGES))
    start, stop = (page - 1) * page_size, page * page_size
    hits = _matches(text=text, terms=terms, types=types, filters=filters, actor=actor, start=start, stop=stop)
    return {
        "results": [
            {"type": hit.kind, "id": hit.id, "rank": round(hit.rank, 4), **hit.shown}
            for hit in hits[start:stop]
            if hit.shown is not None
        ],
        "page": page,
        "has_more": len(hits) > stop and page < MAX_PAGES,
    }
