"""Search across record types: full-text (stored weighted tsvectors, prefix matching for type-ahead) plus
pg_trgm similarity for misspellings, ranked together, with the usual filters. Deleted and merged records
never appear (each type's `.alive()`), and every query is bounded by an index and a LIMIT."""

from __future__ import annotations

import html
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from django.contrib.postgres.search import SearchHeadline, SearchQuery, SearchRank
from django.db import transaction
from django.db.models import BooleanField, F, FloatField, Func, Q, TextField, Value
from django.db.models.functions import Greatest, NullIf

from shared_apps.core.db import connection
from shared_apps.core.errors import InvalidInput
from shared_apps.core.search import folded
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
# word_similarity: "westbruk" against "westbrook" is 0.5, "davolo" against "davolio" 0.56, while unrelated
# short words stay below (pg_trgm's default is 0.6, which misses a typo in a short word)
WORD_THRESHOLD = 0.5
EXACT_RANK = 3.0  # an exact email or phone number: above every full-text hit (1 + ts_rank)
START, STOP = "\x01", "\x02"  # markers for ts_headline, turned into <mark> after HTML-escaping


class TrigramMatch(Func):
    """`a % b`: pg_trgm similarity above the threshold, served by the (folded) trigram GIN indexes."""

    arg_joiner = " %% "
    template = "(%(expressions)s)"
    output_field = BooleanField()


class WordMatch(Func):
    """`text <% field`: some run of words of the field is trigram-similar to the text (pg_trgm's
    word_similarity above its threshold), so that one misspelled word matches a longer field. Served by the
    same trigram GIN indexes."""

    arg_joiner = " <%% "
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


def _candidates(
    kind: str,
    spec: SearchType,
    *,
    text: str,
    terms: list[str],
    filters: dict[str, Any],
    actor: User | None,
    limit: int,
) -> list[tuple[float, int]] | None:
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

    # Full text first, prefix matching on every term ("jan do" finds "Jane Doe" as it is typed), ranked
    # by ts_rank from the GIN index's matches. Fuzzy (trigram) matching only fills what full text did not
    # find: it catches misspellings, and ranking trigram similarity over every full-text hit of a common
    # name would cost a hundred times more for the same first page.
    # An exact email or phone number first (the unique-ish keys' b-tree indexes): the simple parser keeps an
    # email as one token, and a number's digits are not words, so neither full text nor trigrams find them.
    exact = Q()
    for field, value in exact_values(text).items():
        if field in spec.exact_fields and value:
            exact |= Q(**{field: value})
    found: list[tuple[float, int]] = []
    if exact:
        found = [
            (EXACT_RANK, record_id)
            for record_id in rows.filter(exact).order_by("-id").values_list("id", flat=True)[:limit]
        ]
    query = SearchQuery(" & ".join(f"{term}:*" for term in terms), search_type="raw", config="simple")
    found += [
        (1.0 + float(row["rank"]), row["id"])
        for row in rows.filter(search_vector=query)
        .exclude(pk__in=[record_id for _rank, record_id in found])
        .annotate(rank=SearchRank(F("search_vector"), query))
        .order_by("-rank", "-id")
        .values("id", "rank")[: limit - len(found)]
    ]
    if len(found) >= limit or not spec.fuzzy_fields:
        return found
    # Fuzzy per word (word_similarity): a misspelled word of a longer name or company matches ("Westbruk"
    # finds "Carla Westbrook"), ranked by how close, always below the exact and full-text hits (< 1).
    folded_text = fold(text)
    match = Q()
    for field in spec.fuzzy_fields:
        match |= Q(WordMatch(Value(folded_text), folded(field)))
    sims = [
        Func(Value(folded_text), folded(field), function="word_similarity", output_field=FloatField())
        for field in spec.fuzzy_fields
    ]
    fuzzy = (
        rows.filter(match)
        .exclude(pk__in=[record_id for _rank, record_id in found])
        .annotate(rank=Greatest(*sims) if len(sims) > 1 else sims[0])
        .order_by("-rank", "-id")
        .values("id", "rank")[: limit - len(found)]
    )
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL pg_trgm.word_similarity_threshold = %s", [WORD_THRESHOLD])
        fuzzy_rows = list(fuzzy)
    return found + [(float(row["rank"]), row["id"]) for row in fuzzy_rows]


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
    limit = page * page_size + 1
    hits: list[tuple[float, str, int]] = []
    for kind in types:
        spec = TYPES[kind]
        found = _candidates(kind, spec, text=text, terms=terms, filters=filters, actor=actor, limit=limit)
        if found is not None:
            hits += [(rank, kind, record_id) for rank, record_id in found]
    hits.sort(key=lambda hit: (-hit[0], hit[1], -hit[2]))
    window = hits[(page - 1) * page_size : page * page_size]
    return {
        "results": _render(window, terms),
        "page": page,
        "has_more": len(hits) > page * page_size and page < MAX_PAGES,
    }


def _render(window: list[tuple[float, str, int]], terms: list[str]) -> list[dict[str, Any]]:
    """Titles and highlighted snippets, computed for the page's rows only (ts_headline is costly)."""
    by_kind: dict[str, list[int]] = {}
    for _rank, kind, record_id in window:
        by_kind.setdefault(kind, []).append(record_id)
    query = SearchQuery(" | ".join(f"{term}:*" for term in terms), search_type="raw", config="simple")
    details: dict[tuple[str, int], dict[str, Any]] = {}
    for kind, ids in by_kind.items():
        spec = TYPES[kind]
        # "name · company · email", skipping empty fields
        text = Func(
            Value(" · "),
            *(NullIf(F(field), Value("")) for field in spec.snippet_fields),
            function="concat_ws",
            output_field=TextField(),
        )
        rows = spec.model.objects.filter(pk__in=ids).annotate(
            snippet=SearchHeadline(
                text, query, config="simple", start_sel=START, stop_sel=STOP, max_words=30, min_words=10
            )
        )
        for row in rows:
            details[(kind, row.pk)] = {
                "title": str(getattr(row, spec.title))[:200],
                "snippet": html.escape(row.snippet).replace(START, "<mark>").replace(STOP, "</mark>"),
                "created_at": row.created_at,
                **_links(kind, row),
            }
    return [
        {"type": kind, "id": record_id, "rank": round(rank, 4), **details[(kind, record_id)]}
        for rank, kind, record_id in window
        if (kind, record_id) in details
    ]


def _links(kind: str, row: Any) -> dict[str, Any]:
    if kind in HANGING:
        for anchor in ("lead", "contact", "account", "opportunity"):
            if getattr(row, f"{anchor}_id"):
                return {"record": {"type": anchor, "id": getattr(row, f"{anchor}_id")}}
    return {}
