"""Reads for deduplication: duplicate suggestions and where a merged record went."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib.postgres.search import TrigramSimilarity
from django.db import models
from django.db.models import Case, Expression, F, FloatField, Q, QuerySet, Value, When

from shared_apps.core.search import Unaccent, folded
from tenant_apps.accounts.models import Account
from tenant_apps.contacts.models import Contact
from tenant_apps.dedupe.exceptions import RecordNotFound
from tenant_apps.leads.models import Lead
from tenant_apps.search.selectors import TrigramMatch

MAX_SUGGESTIONS = 20
# Below this, trigram similarity pairs different people ("Jane Doe" / "John Doe" is 0.38) while spellings
# of one company stay above it ("Acme Inc" / "ACME Incorporated" is 0.42).
FUZZY_THRESHOLD = 0.4


@dataclass(frozen=True)
class Evidence:
    """One way two records can look alike. `weight` is how sure a match alone makes us (fuzzy evidence is
    weighted by the similarity); the score combines evidence as independent signals: 1 - Π(1 - e).
    `alone`: whether a match on it makes a candidate by itself; a company alike only adds to the score of a
    record found otherwise (two people of one company are colleagues, not duplicates): it needs no index."""

    field: str
    reason: str
    weight: float
    fuzzy: bool = False
    alone: bool = True


# An exact email (or domain) alone outranks any fuzzy name match: 0.9 against at most 0.6 (+ company).
EVIDENCE: dict[type[models.Model], tuple[Evidence, ...]] = {
    Lead: (
        Evidence("email", "email", 0.9),
        Evidence("phone_normalized", "phone", 0.8),
        Evidence("name", "name", 0.6, fuzzy=True),
        Evidence("company", "company", 0.3, fuzzy=True, alone=False),
    ),
    Contact: (
        Evidence("email", "email", 0.9),
        Evidence("phone_normalized", "phone", 0.8),
        Evidence("name", "name", 0.6, fuzzy=True),
    ),
    Account: (
        Evidence("domain", "domain", 0.9),
        Evidence("name", "name", 0.6, fuzzy=True),
    ),
}


@dataclass(frozen=True)
class Suggestion:
    record: Any
    score: float
    reasons: list[str]


def live_record(*, model: type[models.Model], record_id: int) -> Any:
    record = model._default_manager.alive().filter(pk=record_id).first()  # type: ignore[attr-defined]
    if record is None:
        raise RecordNotFound(record_type=model._meta.model_name or "record", ids=[record_id])
    return record


def duplicate_candidates(*, record: Any) -> QuerySet[Any]:
    """Live records of the record's type that share an exact key with it (email, phone, domain) or whose
    (accent-folded) name is trigram-similar (`%`), annotated with `_score` and each evidence (a lead's
    company similarity too), best first. Every arm of the OR has an index (the exact keys their partial
    b-trees, `%` the trigram GIN indexes on the folded names): the candidates come from a BitmapOr, never
    from reading the table."""
    model = type(record)
    match = Q()
    annotations: dict[str, Expression] = {}
    remaining: Expression | None = None  # Π(1 - evidence)
    for evidence in EVIDENCE[model]:
        value = getattr(record, evidence.field)
        if not value:
            continue
        if evidence.fuzzy:
            # the same folded expression as the trigram GIN indexes (lead_name_trgm, ...), so they serve it
            folded_value = Unaccent(Value(value))
            if evidence.alone:
                match |= Q(TrigramMatch(folded(evidence.field), folded_value))
            # (the stubs say str; TrigramSimilarity takes any expression)
            similarity = TrigramSimilarity(folded(evidence.field), folded_value)  # type: ignore[arg-type]
            annotations[f"_{evidence.field}"] = similarity
            strength: Expression = Case(
                When(
                    **{f"_{evidence.field}__gte": FUZZY_THRESHOLD},
                    then=F(f"_{evidence.field}") * Value(evidence.weight),
                ),
                default=Value(0.0),
                output_field=FloatField(),
            )
        else:
            if evidence.alone:
                match |= Q(**{evidence.field: value})
            annotations[f"_{evidence.field}"] = Case(
                When(**{evidence.field: value}, then=Value(1.0)),
                default=Value(0.0),
                output_field=FloatField(),
            )
            strength = F(f"_{evidence.field}") * Value(evidence.weight)
        doubt = Value(1.0) - strength
        remaining = doubt if remaining is None else remaining * doubt
    if remaining is None or not match:
        return model._default_manager.none()
    return (
        model._default_manager.alive()
        .exclude(pk=record.pk)
        .filter(match)
        .annotate(**annotations)
        .annotate(_score=Value(1.0) - remaining)
        .filter(_score__gt=0)
        .order_by("-_score", "pk")
    )


def duplicates(*, record: Any, limit: int = MAX_SUGGESTIONS) -> list[Suggestion]:
    """At most `limit` likely duplicates of a live record, best first, each with the reasons it matched:
    "email", "phone", "domain", "name ~0.82", "company ~0.67". One query."""
    suggestions = []
    for candidate in duplicate_candidates(record=record)[:limit]:
        reasons = []
        for evidence in EVIDENCE[type(record)]:
            strength = getattr(candidate, f"_{evidence.field}", None)
            if evidence.fuzzy and strength is not None and strength >= FUZZY_THRESHOLD:
                reasons.append(f"{evidence.reason} ~{strength:.2f}")
            elif not evidence.fuzzy and strength:
                reasons.append(evidence.reason)
        suggestions.append(Suggestion(candidate, round(candidate._score, 2), reasons))
    return suggestions


def lead_duplicates(*, lead_id: int) -> list[Suggestion]:
    return duplicates(record=live_record(model=Lead, record_id=lead_id))


def contact_duplicates(*, contact_id: int) -> list[Suggestion]:
    return duplicates(record=live_record(model=Contact, record_id=contact_id))


def account_duplicates(*, account_id: int) -> list[Suggestion]:
    return duplicates(record=live_record(model=Account, record_id=account_id))
