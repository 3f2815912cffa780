"""Who sees and who changes which records inside one organization: one policy per record type, applied
where querysets are built, so that a new endpoint, export, segment, timeline, report or job is narrowed by
default instead of re-implementing the rule.

Public API. `actor` is a member (`User`; an API key acts for its member, `request.user`), or `None` for the
system (jobs acting for nobody, services, migrations), which sees and changes everything.

    sees_all_leads(actor, *, reps_see_all_leads=None) -> bool
        True unless the actor is a rep in an organization that keeps reps to their own leads and deals.

    leads_for(actor) -> LeadQuerySet                  leads the actor may see (deleted and merged included:
    opportunities_for(actor) -> OpportunityQuerySet    callers add `.alive()`); reps: their own + unassigned
    accounts_for(actor) -> QuerySet[Account]          every account / contact: shared inside the organization
    contacts_for(actor) -> QuerySet[Contact]
    tasks_for(actor) -> QuerySet[Task]                anything hanging on a record is visible exactly when
    notes_for(actor) -> QuerySet[Note]                the record(s) it hangs on are
    activities_for(actor) -> QuerySet[Activity]

    hanging_visible(actor, via="") -> Q
        The condition "the lead and opportunity this row hangs on are visible" for a model with `lead` and/or
        `opportunity` foreign keys (`via`: a path prefix to such a model, e.g. "enrollment__"). Q() when the
        actor sees everything. Rows on accounts or contacts only are always visible.

    visible_lead_ids(actor) / visible_opportunity_ids(actor) -> QuerySet of ids (for `__in` subqueries)

    can_see(actor, record) -> bool                    one loaded record (lead, opportunity, account,
    can_change(actor, record) -> bool                 contact, task, note, activity, enrollment)
        Viewers change nothing. Reps change the leads and opportunities they own (not unassigned ones), and
        accounts, contacts and hanging records (tasks, notes, enrolments) they can see. Managers and admins
        change everything.

    records_for(kind, actor) -> QuerySet               kind: "lead" | "opportunity" | "account" | "contact" |
                                                      "task" | "note" | "activity" | a registered kind
                                                      ("enrollment": tenant_apps.sequences.selectors)
    record_visible(actor, kind, record_id) -> bool
        Whether a record of that kind exists and the actor may see it (for "create a task on lead 7", where
        a hidden record must answer exactly like a missing one).

    may_write(actor) -> bool                          any write at all (viewers: no)

    policy_key(actor) -> tuple                        equal keys: equal querysets from every policy (a key
                                                      for caching SQL compiled from them)

The organization's setting is `current_organization().reps_see_all_leads`: the same row in requests, jobs,
streams and commands (shared_apps.organizations.context). It covers leads and opportunities alike.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db.models import Model, Q, QuerySet

from shared_apps.organizations.context import current_organization_or_none
from shared_apps.users.models import Role, User

# the record types a hanging row (task, note, activity, enrolment) can point at and that can be hidden
NARROWED_ANCHORS = ("lead", "opportunity")


def sees_all_leads(actor: User | None, *, reps_see_all_leads: bool | None = None) -> bool:
    """`reps_see_all_leads`: the organization's setting when the caller holds it (a stream opened outside
    the schema); read from the current tenant otherwise."""
    if actor is None or actor.role != Role.REP:
        return True
    if reps_see_all_leads is None:
        reps_see_all_leads = _organization_lets_reps_see_all()
    return reps_see_all_leads


def _organization_lets_reps_see_all() -> bool:
    organization = current_organization_or_none()
    return bool(organization and organization.reps_see_all_leads)


def policy_key(actor: User | None) -> tuple[Any, ...]:
    """Everything the policies below read of the actor and the organization: two actors with equal keys get
    the same querysets (the same SQL) from every policy, so SQL compiled from them may be kept under this
    key (search does). A policy that comes to read more (a team, a region) adds it here."""
    if actor is None or sees_all_leads(actor):
        return ("all",)
    return ("own", actor.pk)


def may_write(actor: User | None) -> bool:
    return actor is None or actor.role != Role.VIEWER


def _owned(actor: User, via: str = "") -> Q:
    return Q(**{f"{via}owner_id": actor.pk}) | Q(**{f"{via}owner__isnull": True})


def leads_for(actor: User | None) -> Any:
    from tenant_apps.leads.models import Lead

    leads = Lead.objects.all()
    return leads if actor is None or sees_all_leads(actor) else leads.filter(_owned(actor))


def opportunities_for(actor: User | None) -> Any:
    from tenant_apps.opportunities.models import Opportunity

    opportunities = Opportunity.objects.all()
    return opportunities if actor is None or sees_all_leads(actor) else opportunities.filter(_owned(actor))


def accounts_for(actor: User | None) -> Any:
    from tenant_apps.accounts.models import Account

    return Account.objects.all()


def contacts_for(actor: User | None) -> Any:
    from tenant_apps.contacts.models import Contact

    return Contact.objects.all()


def visible_lead_ids(actor: User | None) -> QuerySet[Any]:
    return leads_for(actor).values("pk")


def visible_opportunity_ids(actor: User | None) -> QuerySet[Any]:
    return opportunities_for(actor).values("pk")


def hanging_visible(actor: User | None, via: str = "", anchors: tuple[str, ...] = NARROWED_ANCHORS) -> Q:
    """Rows hanging on a hidden lead or opportunity are hidden. Written as joins on the record's owner
    (a LEFT JOIN on the record's primary key per row), so that a query bounded by an index range on the
    hanging table (an account's timeline) stays bounded by it."""
    if actor is None or sees_all_leads(actor):
        return Q()
    condition = Q()
    for anchor in anchors:
        condition &= Q(**{f"{via}{anchor}__isnull": True}) | _owned(actor, via=f"{via}{anchor}__")
    return condition


def tasks_for(actor: User | None) -> Any:
    from tenant_apps.tasks.models import Task

    return Task.objects.filter(hanging_visible(actor))


def notes_for(actor: User | None) -> Any:
    from tenant_apps.activities.models import Note

    return Note.objects.filter(hanging_visible(actor))


def activities_for(actor: User | None) -> Any:
    from tenant_apps.activities.models import Activity

    return Activity.objects.filter(hanging_visible(actor))


def _kind_of(record: Model) -> str:
    return record._meta.model_name or ""


def _owner_visible(actor: User, owner_id: int | None) -> bool:
    return owner_id is None or owner_id == actor.pk


def can_see(actor: User | None, record: Model) -> bool:
    if actor is None or sees_all_leads(actor):
        return True
    kind = _kind_of(record)
    if kind in NARROWED_ANCHORS:
        return _owner_visible(actor, getattr(record, "owner_id", None))
    if kind in ("account", "contact"):
        return True
    # a hanging record: visible when each lead / opportunity it is on is
    for anchor in NARROWED_ANCHORS:
        if getattr(record, f"{anchor}_id", None) is not None:
            anchored = getattr(record, anchor)
            if not _owner_visible(actor, anchored.owner_id):
                return False
    return True


def can_change(actor: User | None, record: Model) -> bool:
    if actor is None:
        return True
    if not may_write(actor):
        return False
    if actor.role != Role.REP:
        return True
    if _kind_of(record) in NARROWED_ANCHORS:
        # even when reps see every lead, they change only their own
        return getattr(record, "owner_id", None) == actor.pk
    return can_see(actor, record)


# each record type's policy, by the name the API and segments use for the type
POLICIES: dict[str, Callable[[User | None], Any]] = {
    "lead": leads_for,
    "opportunity": opportunities_for,
    "account": accounts_for,
    "contact": contacts_for,
    "task": tasks_for,
    "note": notes_for,
    "activity": activities_for,
}


def register_policy(kind: str, policy: Callable[[User | None], Any]) -> None:
    """For an app that builds on the records (sequences' enrolments): its rows' policy, by kind. Registered
    from its AppConfig.ready(), so records_for and record_visible answer for it while the record apps never
    import it."""
    POLICIES[kind] = policy


def records_for(kind: str, actor: User | None) -> Any:
    """The records of one type (a key of POLICIES) that `actor` may see."""
    return POLICIES[kind](actor)


def record_visible(actor: User | None, kind: str, record_id: int) -> bool:
    return bool(records_for(kind, actor).filter(pk=record_id).exists())
