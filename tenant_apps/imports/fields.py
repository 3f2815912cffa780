"""What each record type imports, as SQL: the normalization and checks of every field (the rules of the
record services and of tenant_apps.records.normalize, written set-based), the duplicate keys, and the columns
an import writes on create and on update.

Expressions read a staged row's raw values (`r_<field>`, stripped), its normalized values (`v_<field>`) and,
for updates, the plan row `p` and the record `r`. Every value that is not a column goes through `quote()`
(tenant_apps.imports.expressions), so nothing a file holds ever becomes SQL text.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import models

from tenant_apps.accounts.models import Account, AccountSize, AccountStatus
from tenant_apps.contacts.models import Contact
from tenant_apps.imports import custom as custom_fields
from tenant_apps.imports.expressions import (
    DOMAIN_RE,
    EMAIL_RE,
    NOW,
    NUMBER_FORMATS,
    ascii_lower,
    collapsed,
    domain,
    identity,
    identity_key,
    in_list,
    number,
    quote,
)
from tenant_apps.imports.models import RecordType
from tenant_apps.leads.models import Lead, Source, Stage
from tenant_apps.leads.services import MAX_VALUE
from tenant_apps.opportunities.models import (
    STAGE_PROBABILITY,
    Opportunity,
    OpportunityStage,
    Pipeline,
    PipelineStage,
)
from tenant_apps.opportunities.pipelines import default_pipeline
from tenant_apps.opportunities.services import MAX_AMOUNT, OPEN_STAGES
from tenant_apps.records import normalize


@dataclass(frozen=True)
class Check:
    condition: str  # SQL, true when the row is wrong
    code: str
    field: str
    message: str
    warning: bool = False  # the row is still written (the problem is listed in errors.csv)


@dataclass(frozen=True)
class Key:
    """A duplicate key: the staged row's normalized value and the same value of an existing record `x`."""

    value: str
    existing: str
    label: str
    field: str


@dataclass(frozen=True)
class UpdateColumn:
    """A column an update may change: its new value (over the plan row `p` and the record `r`) and whether
    the file gives one."""

    column: str
    new: str
    given: str
    derived: bool = False  # computed from other columns: kept for revert, not listed as a change


@dataclass
class Context:
    """What the SQL depends on besides the row: the import and its options."""

    import_id: int
    mapped: set[str]
    default_owner_id: int | None
    tags: list[str]
    currency: str
    actor_id: int | None
    number_format: str = NUMBER_FORMATS[0]
    custom: list[custom_fields.Mapped] = field(default_factory=list)  # the mapped custom fields

    def raw(self, name: str) -> str | None:
        """The raw column of a mapped field; None when no column maps to it."""
        return f"r_{name}" if name in self.mapped else None

    def text(self, name: str) -> str:
        return self.raw(name) or "''"

    def given(self, name: str) -> str:
        """SQL true when the plan row `p` has a value for the field (an update sets only those)."""
        raw = self.raw(name)
        return f"p.{raw} <> ''" if raw else "FALSE"

    def too_long(self, name: str, limit: int) -> list[Check]:
        raw = self.raw(name)
        return (
            [Check(f"length({raw}) > {limit}", "too_long", name, f"at most {limit} characters")]
            if raw
            else []
        )


@dataclass(frozen=True)
class Spec:
    """One record type; subclasses give each piece of SQL."""

    record_type: str
    model: type[models.Model]
    label: str  # "Lead"
    fields: tuple[str, ...]
    required: tuple[str, ...]
    aliases: dict[str, str]
    returning: tuple[str, ...]  # the created rows' columns the CREATED activity needs
    free_text: tuple[str, ...]  # fields an export escapes against formulas (the rest are codes or numbers)
    # field -> (SQL predicate over the staged column `{raw}`, Python normalization) for the rows SQL can't do
    python_fixes: dict[str, tuple[str, Callable[[str], str]]] = field(default_factory=dict)

    @property
    def table(self) -> str:
        return self.model._meta.db_table

    def values(self, ctx: Context) -> dict[str, str]:
        """Normalized values over the raw columns (and the owner `o` / account `a` lookups). A name
        starting with h_ is a step towards another value, dropped from the plan; the others become v_*."""
        owner = ctx.raw("owner")
        default_owner = f"{quote(ctx.default_owner_id)}::bigint"
        constant = f"{quote(list(ctx.tags))}" if ctx.tags else "'{}'::text[]"
        return {
            "name": ctx.text("name"),
            "owner_id": f"CASE WHEN {owner} = '' THEN {default_owner} ELSE o.id END"
            if owner
            else default_owner,
            # a tags cell arrives normalized (tags_cell), the import's tags included
            "tags": f"CASE WHEN h_tags IS NULL THEN {constant} ELSE string_to_array(h_tags, ';') END"
            if ctx.raw("tags")
            else constant,
            **({"custom": custom_fields.values_sql(ctx.custom)} if ctx.custom else {}),
        }

    def derived(self, ctx: Context) -> list[dict[str, str]]:
        """Further levels of values, each over the ones before."""
        return []

    def checks(self, ctx: Context) -> list[Check]:
        checks = [Check("v_name = ''", "required", "name", "required"), *ctx.too_long("name", 200)]
        if ctx.raw("owner"):
            checks.append(
                Check(
                    "r_owner <> '' AND v_owner_id IS NULL",
                    "unknown_owner",
                    "owner",
                    "no active member has this email or id; the owner was not set",
                    warning=True,
                )
            )
        if ctx.raw("tags"):
            checks.append(
                Check(
                    "h_tags_bad <> ''",
                    "invalid_tags",
                    "tags",
                    f"at most {normalize.MAX_TAGS} tags of 1 to 50 characters",
                )
            )
        for mapped in ctx.custom:
            name = mapped.name
            blank, bad = f"r_{mapped.column} = ''", f"h_{mapped.column}_bad"
            if mapped.field.required:
                checks.append(Check(f"{blank} AND {bad} = ''", "required", name, "required"))
            label = mapped.field.get_type_display().lower()
            checks.append(Check(f"{bad} <> ''", "invalid_custom_value", name, f"not a valid {label} value"))
        return checks

    def duplicate_keys(self) -> list[Key]:
        raise NotImplementedError

    def insert(self, ctx: Context) -> dict[str, str]:
        """Column -> value over the plan row `p` for a created record."""
        return {
            "name": "p.v_name",
            "owner_id": "p.v_owner_id",
            "tags": "p.v_tags::varchar(50)[]",
            "created_at": NOW,
            "updated_at": NOW,
            **({"custom": "p.v_custom"} if ctx.custom else {}),
        }

    def updates(self, ctx: Context) -> list[UpdateColumn]:
        tags_given = f"({ctx.given('tags')} OR cardinality(p.v_tags) > 0)"
        union = (
            "r.tags || ARRAY(SELECT tag FROM unnest(p.v_tags) WITH ORDINALITY AS u(tag, position) "
            "WHERE tag <> ALL(r.tags) ORDER BY position)::varchar(50)[]"
        )
        return [
            UpdateColumn("name", "p.v_name", ctx.given("name")),
            # an unknown owner leaves the record's owner as it is (the row's warning says so)
            UpdateColumn("owner_id", "p.v_owner_id", f"({ctx.given('owner')} AND p.v_owner_id IS NOT NULL)"),
            UpdateColumn("tags", union, tags_given),
            # the given values replace the record's, the others stay
            *(
                [UpdateColumn("custom", "r.custom || p.v_custom", "p.v_custom <> '{}'::jsonb")]
                if ctx.custom
                else []
            ),
        ]

    def derived_updates(self) -> dict[str, str]:
        """Columns recomputed after an update from the new values (`new_<column>`)."""
        return {}

    def recompute(self) -> dict[str, str]:
        """Columns computed from the others, over the stored record `r` (after a revert restored them)."""
        return {}

    def created_metadata(self, ctx: Context) -> dict[str, str]:
        """The CREATED activity's metadata, over the created row `i`."""
        return {"owner_id": "i.owner_id"}


def _person_values(ctx: Context, values: dict[str, str]) -> None:
    values["email"] = f"lower({ctx.text('email')})"
    values["phone"] = ctx.raw("phone") or "''"


def _person_derived(ctx: Context) -> dict[str, str]:
    """normalize.phone, applied as the file was read (load.py); '' when not a valid number."""
    return {"phone_normalized": "h_phone_norm" if ctx.raw("phone") else "''"}


def _person_checks(ctx: Context) -> list[Check]:
    checks: list[Check] = []
    if ctx.raw("email"):
        checks.append(
            Check(
                f"v_email <> '' AND (length(v_email) > 254 OR v_email !~ {quote(EMAIL_RE)})",
                "invalid_email",
                "email",
                "not a valid email address",
            )
        )
    if ctx.raw("phone"):
        checks += ctx.too_long("phone", 40)
        checks.append(
            Check(
                "r_phone <> '' AND v_phone_normalized = ''",
                "invalid_phone",
                "phone",
                "7 to 15 digits, with spaces, dashes, dots, parentheses and a leading +",
            )
        )
    return checks


def _person_updates(ctx: Context) -> list[UpdateColumn]:
    return [
        UpdateColumn("email", "p.v_email", ctx.given("email")),
        UpdateColumn("phone", "p.v_phone", ctx.given("phone")),
        UpdateColumn("phone_normalized", "p.v_phone_normalized", ctx.given("phone"), derived=True),
    ]


def _person_insert() -> dict[str, str]:
    return {column: f"p.v_{column}" for column in ("email", "phone", "phone_normalized")}


def _account(ctx: Context) -> str:
    """The account a cell names (its id or name, looked up as `a`)."""
    account = ctx.raw("account")
    return f"CASE WHEN {account} = '' THEN NULL ELSE a.id END" if account else "NULL::bigint"


def _amount(ctx: Context, name: str) -> str:
    raw = ctx.raw(name)
    return (
        f"CASE WHEN {raw} = '' THEN 0::numeric ELSE {number(raw, ctx.number_format)} END"
        if raw
        else "0::numeric"
    )


def _currency(ctx: Context) -> str:
    raw = ctx.raw("currency")
    return (
        f"CASE WHEN {raw} = '' THEN {quote(ctx.currency)} ELSE upper({raw}) END"
        if raw
        else quote(ctx.currency)
    )


def _money_checks(ctx: Context, name: str, maximum: Decimal) -> list[Check]:
    """An amount (numbers as the organization writes them) and its currency."""
    checks = []
    if ctx.raw(name):
        example = ctx.number_format.replace("1", "12").replace("234", "500").replace("56", "50")
        value = f"v_{name}"
        checks += [
            Check(f"{value} IS NULL", "not_a_number", name, f"not a number such as {example}"),
            Check(
                f"{value} < 0 OR {value} > {maximum} OR {value} <> round({value}, 2)",
                "out_of_range",
                name,
                f"between 0 and {maximum}, with at most 2 decimal places",
            ),
        ]
    if ctx.raw("currency"):
        checks.append(
            Check(
                f"NOT {in_list('v_currency', sorted(normalize.CURRENCIES))}",
                "unknown_currency",
                "currency",
                "an ISO 4217 currency code such as USD or EUR",
            )
        )
    return checks


def _choice(ctx: Context, name: str, values: list[str], code: str) -> list[Check]:
    if not ctx.raw(name):
        return []
    return [Check(f"NOT {in_list(f'v_{name}', values)}", code, name, f"expected one of {', '.join(values)}")]


class LeadSpec(Spec):
    def values(self, ctx: Context) -> dict[str, str]:
        values = super().values(ctx)
        _person_values(ctx, values)
        source, stage = ctx.raw("source"), ctx.raw("stage")
        values["company"] = ctx.text("company")
        values["h_name_lower"] = ascii_lower(values["name"])
        values["h_company_lower"] = ascii_lower(values["company"])
        values["source"] = (
            f"CASE WHEN {source} = '' THEN 'import' ELSE lower({source}) END" if source else "'import'"
        )
        values["stage"] = f"CASE WHEN {stage} = '' THEN 'NEW' ELSE upper({stage}) END" if stage else "'NEW'"
        values["value"] = _amount(ctx, "value")
        values["currency"] = _currency(ctx)
        return values

    def derived(self, ctx: Context) -> list[dict[str, str]]:
        folded = {"h_name": collapsed("h_name_lower"), "h_company": collapsed("h_company_lower")}
        return [{**_person_derived(ctx), **folded}, {"identity_key": identity("h_name", "h_company")}]

    def checks(self, ctx: Context) -> list[Check]:
        checks = super().checks(ctx) + _person_checks(ctx) + ctx.too_long("company", 200)
        checks += _choice(ctx, "source", Source.values, "unknown_source")
        checks += _choice(ctx, "stage", Stage.values, "unknown_stage")
        return checks + _money_checks(ctx, "value", MAX_VALUE)

    def duplicate_keys(self) -> list[Key]:
        return [
            Key("v_email", "x.email", "email", "email"),
            Key("v_phone_normalized", "x.phone_normalized", "phone", "phone"),
            Key("v_identity_key", "x.identity_key", "company and name", "company"),
        ]

    def insert(self, ctx: Context) -> dict[str, str]:
        return {
            **super().insert(ctx),
            **_person_insert(),
            **{
                column: f"p.v_{column}"
                for column in ("company", "identity_key", "source", "stage", "currency")
            },
            "value": "round(p.v_value, 2)",
            # an import is the one place a lead starts beyond NEW (its CREATED activity says so)
            "stage_changed_at": NOW,
        }

    def updates(self, ctx: Context) -> list[UpdateColumn]:
        # never the stage: only lead_transition moves a lead along the pipeline
        return (
            super().updates(ctx)
            + _person_updates(ctx)
            + [
                UpdateColumn("company", "p.v_company", ctx.given("company")),
                UpdateColumn("source", "p.v_source", ctx.given("source")),
                UpdateColumn("value", "round(p.v_value, 2)", ctx.given("value")),
                UpdateColumn("currency", "p.v_currency", ctx.given("currency")),
            ]
        )

    def derived_updates(self) -> dict[str, str]:
        return {"identity_key": identity_key("new_name", "new_company")}

    def recompute(self) -> dict[str, str]:
        return {"identity_key": identity_key("r.name", "r.company")}

    def created_metadata(self, ctx: Context) -> dict[str, str]:
        return {"source": "i.source", **super().created_metadata(ctx), "stage": "i.stage"}


class ContactSpec(Spec):
    def values(self, ctx: Context) -> dict[str, str]:
        values = super().values(ctx)
        _person_values(ctx, values)
        values["title"] = ctx.text("title")
        values["account_id"] = _account(ctx)
        return values

    def derived(self, ctx: Context) -> list[dict[str, str]]:
        return [_person_derived(ctx)]

    def checks(self, ctx: Context) -> list[Check]:
        checks = super().checks(ctx) + _person_checks(ctx) + ctx.too_long("title", 200)
        if ctx.raw("account"):
            checks.append(
                Check(
                    "r_account <> '' AND v_account_id IS NULL",
                    "unknown_account",
                    "account",
                    "no live account has this id or name",
                )
            )
        return checks

    def duplicate_keys(self) -> list[Key]:
        return [
            Key("v_email", "x.email", "email", "email"),
            Key("v_phone_normalized", "x.phone_normalized", "phone", "phone"),
        ]

    def insert(self, ctx: Context) -> dict[str, str]:
        return {
            **super().insert(ctx),
            **_person_insert(),
            "title": "p.v_title",
            "account_id": "p.v_account_id",
        }

    def updates(self, ctx: Context) -> list[UpdateColumn]:
        return (
            super().updates(ctx)
            + _person_updates(ctx)
            + [
                UpdateColumn("title", "p.v_title", ctx.given("title")),
                UpdateColumn("account_id", "p.v_account_id", ctx.given("account")),
            ]
        )

    def created_metadata(self, ctx: Context) -> dict[str, str]:
        return {"account_id": "i.account_id", **super().created_metadata(ctx)}


def _domain_to_ascii(value: str) -> str:
    """An international domain name in the ASCII (punycode) form account services store; the value as it
    was when it is no domain at all (the SQL check then reports it)."""
    from shared_apps.core.errors import InvalidInput
    from tenant_apps.accounts.services import normalize_domain

    try:
        return normalize_domain(value)
    except InvalidInput:
        return value


class AccountSpec(Spec):
    def values(self, ctx: Context) -> dict[str, str]:
        values = super().values(ctx)
        raw_domain, size, status = (ctx.raw(name) for name in ("domain", "size", "status"))
        values["domain"] = (
            f"CASE WHEN {raw_domain} = '' THEN '' ELSE {domain(raw_domain)} END" if raw_domain else "''"
        )
        values["industry"] = ctx.text("industry")
        values["size"] = size or "''"
        values["status"] = (
            f"CASE WHEN {status} = '' THEN 'prospect' ELSE lower({status}) END" if status else "'prospect'"
        )
        return values

    def checks(self, ctx: Context) -> list[Check]:
        checks = super().checks(ctx) + ctx.too_long("industry", 100)
        if ctx.raw("domain"):
            checks.append(
                Check(
                    f"r_domain <> '' AND (v_domain !~ {quote(DOMAIN_RE)} OR length(v_domain) > 253 "
                    "OR v_domain ~ '\\.[0-9]+$')",
                    "invalid_domain",
                    "domain",
                    "a domain such as acme.com",
                )
            )
        if ctx.raw("size"):
            checks.append(
                Check(
                    f"v_size <> '' AND NOT {in_list('v_size', AccountSize.values)}",
                    "unknown_size",
                    "size",
                    f"expected one of {', '.join(AccountSize.values)}",
                )
            )
        checks += _choice(ctx, "status", AccountStatus.values, "unknown_status")
        return checks

    def duplicate_keys(self) -> list[Key]:
        return [
            Key("v_domain", "x.domain", "domain", "domain"),
            Key("lower(v_name)", "lower(x.name)", "name", "name"),
        ]

    def insert(self, ctx: Context) -> dict[str, str]:
        columns = ("domain", "industry", "size", "status")
        return {
            **super().insert(ctx),
            **{column: f"p.v_{column}" for column in columns},
            "last_activity_at": NOW,  # its CREATED activity
        }

    def updates(self, ctx: Context) -> list[UpdateColumn]:
        # never the status: only account_set_status changes it, keeping its history
        return [
            *super().updates(ctx),
            UpdateColumn("domain", "p.v_domain", ctx.given("domain")),
            UpdateColumn("industry", "p.v_industry", ctx.given("industry")),
            UpdateColumn("size", "p.v_size", ctx.given("size")),
        ]

    def created_metadata(self, ctx: Context) -> dict[str, str]:
        return {"status": "i.status", **super().created_metadata(ctx)}


DATE_RE = r"^[1-9][0-9]{3}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$"


def _date(raw: str) -> str:
    """A YYYY-MM-DD cell as a date; NULL when it is none (checked without a cast that could raise)."""
    last_day = (
        f"extract(day FROM make_date(left({raw}, 4)::int, substr({raw}, 6, 2)::int, 1) "
        "+ interval '1 month - 1 day')"
    )
    return f"CASE WHEN {raw} ~ {quote(DATE_RE)} AND right({raw}, 2)::int <= {last_day} THEN {raw}::date END"


class OpportunitySpec(Spec):
    """Deals, created open (closing one goes through opportunity_transition, which records why)."""

    def values(self, ctx: Context) -> dict[str, str]:
        values = super().values(ctx)
        stage, close = ctx.raw("stage"), ctx.raw("expected_close_date")
        values["account_id"] = _account(ctx)
        values["amount"] = _amount(ctx, "amount")
        values["currency"] = _currency(ctx)
        default_stage = quote(OpportunityStage.QUALIFICATION.value)
        values["stage"] = (
            f"CASE WHEN {stage} = '' THEN {default_stage} ELSE upper({stage}) END" if stage else default_stage
        )
        values["expected_close_date"] = (
            f"CASE WHEN {close} = '' THEN NULL ELSE {_date(close)} END" if close else "NULL::date"
        )
        return values

    def derived(self, ctx: Context) -> list[dict[str, str]]:
        default = f"(SELECT id FROM {Pipeline._meta.db_table} WHERE is_default)"  # noqa: S608
        configured = (
            f"(SELECT s.probability FROM {PipelineStage._meta.db_table} s "  # noqa: S608
            f"WHERE s.pipeline_id = {default} AND s.key = v_stage)"
        )
        probability = " ".join(
            f"WHEN {quote(stage.value)} THEN {value}" for stage, value in STAGE_PROBABILITY.items()
        )
        # the stage's probability as configured; the enum's if the stage is gone (the row is refused then)
        return [{"probability": f"COALESCE({configured}, CASE v_stage {probability} END, 0)"}]

    def checks(self, ctx: Context) -> list[Check]:
        checks = super().checks(ctx)
        checks += [
            Check("r_account = ''", "required", "account", "required"),
            Check(
                "r_account <> '' AND v_account_id IS NULL",
                "unknown_account",
                "account",
                "no live account has this id or name",
            ),
        ]
        # the default pipeline's open stages as configured now (keys: the old enum values and any added)
        open_keys = list(
            default_pipeline().stages.filter(is_won=False, is_lost=False).values_list("key", flat=True)
        )
        checks += _choice(ctx, "stage", open_keys or list(OPEN_STAGES), "unknown_stage")
        checks += _money_checks(ctx, "amount", MAX_AMOUNT)
        if ctx.raw("expected_close_date"):
            checks.append(
                Check(
                    "r_expected_close_date <> '' AND v_expected_close_date IS NULL",
                    "invalid_date",
                    "expected_close_date",
                    "a date written YYYY-MM-DD",
                )
            )
        return checks

    def duplicate_keys(self) -> list[Key]:
        return [
            Key(
                "(lower(v_name) || '|' || v_account_id)",
                "(lower(x.name) || '|' || x.account_id)",
                "name and account",
                "name",
            )
        ]

    def insert(self, ctx: Context) -> dict[str, str]:
        columns = ("account_id", "currency", "stage", "probability", "expected_close_date")
        default = f"(SELECT id FROM {Pipeline._meta.db_table} WHERE is_default)"  # noqa: S608
        stages = PipelineStage._meta.db_table
        return {
            **super().insert(ctx),
            **{column: f"p.v_{column}" for column in columns},
            "amount": "round(p.v_amount, 2)",
            # imported deals go on the default pipeline, on the stage its key names
            "pipeline_id": default,
            "pipeline_stage_id": f"(SELECT s.id FROM {stages} s WHERE s.pipeline_id = {default} "  # noqa: S608
            "AND s.key = p.v_stage)",
        }

    def updates(self, ctx: Context) -> list[UpdateColumn]:
        # never the stage: only opportunity_transition moves a deal along
        return [
            *super().updates(ctx),
            UpdateColumn("account_id", "p.v_account_id", ctx.given("account")),
            UpdateColumn("amount", "round(p.v_amount, 2)", ctx.given("amount")),
            UpdateColumn("currency", "p.v_currency", ctx.given("currency")),
            UpdateColumn("expected_close_date", "p.v_expected_close_date", ctx.given("expected_close_date")),
        ]

    def created_metadata(self, ctx: Context) -> dict[str, str]:
        return {"account_id": "i.account_id", **super().created_metadata(ctx), "stage": "i.stage"}


_COMMON_ALIASES = {
    "full_name": "name",
    "owner_email": "owner",
    "assigned_to": "owner",
    "labels": "tags",
    "tag": "tags",
}
_PERSON_ALIASES = {
    "e_mail": "email",
    "email_address": "email",
    "e_mail_address": "email",
    "mail": "email",
    "phone_number": "phone",
    "telephone": "phone",
    "tel": "phone",
    "mobile": "phone",
    "contact_name": "name",
}

SPECS: dict[str, Spec] = {
    RecordType.LEAD: LeadSpec(
        record_type=RecordType.LEAD,
        model=Lead,
        label="Lead",
        fields=("name", "email", "phone", "company", "source", "stage", "value", "currency", "owner", "tags"),
        required=("name",),
        aliases={
            **_COMMON_ALIASES,
            **_PERSON_ALIASES,
            "lead": "name",
            "lead_name": "name",
            "company_name": "company",
            "organization": "company",
            "organisation": "company",
            "lead_source": "source",
            "status": "stage",
            "lead_status": "stage",
            "amount": "value",
            "deal_value": "value",
        },
        returning=("id", "name", "source", "owner_id", "stage"),
        free_text=("name", "email", "phone", "company", "owner"),
    ),
    RecordType.CONTACT: ContactSpec(
        record_type=RecordType.CONTACT,
        model=Contact,
        label="Contact",
        fields=("name", "email", "phone", "title", "account", "owner", "tags"),
        required=("name",),
        aliases={
            **_COMMON_ALIASES,
            **_PERSON_ALIASES,
            "job_title": "title",
            "position": "title",
            "account_name": "account",
            "account_id": "account",
            "company": "account",
            "company_name": "account",
        },
        returning=("id", "name", "account_id", "owner_id"),
        free_text=("name", "email", "phone", "title", "account", "owner"),
    ),
    RecordType.ACCOUNT: AccountSpec(
        record_type=RecordType.ACCOUNT,
        model=Account,
        label="Account",
        fields=("name", "domain", "industry", "size", "status", "owner", "tags"),
        required=("name",),
        aliases={
            **_COMMON_ALIASES,
            "account": "name",
            "account_name": "name",
            "company": "name",
            "company_name": "name",
            "website": "domain",
            "url": "domain",
            "employees": "size",
            "company_size": "size",
            "sector": "industry",
        },
        returning=("id", "name", "status", "owner_id"),
        free_text=("name", "domain", "industry", "owner"),
        python_fixes={"domain": ("{raw} ~ '[^\\x01-\\x7f]'", _domain_to_ascii)},
    ),
    RecordType.OPPORTUNITY: OpportunitySpec(
        record_type=RecordType.OPPORTUNITY,
        model=Opportunity,
        label="Opportunity",
        fields=("name", "account", "amount", "currency", "stage", "expected_close_date", "owner", "tags"),
        required=("name", "account"),
        aliases={
            **_COMMON_ALIASES,
            "deal": "name",
            "deal_name": "name",
            "opportunity": "name",
            "opportunity_name": "name",
            "account_name": "account",
            "account_id": "account",
            "company": "account",
            "company_name": "account",
            "value": "amount",
            "deal_value": "amount",
            "close_date": "expected_close_date",
            "expected_close": "expected_close_date",
        },
        returning=("id", "name", "account_id", "owner_id", "stage"),
        free_text=("name", "account", "owner"),
    ),
}
