"""SQL expressions an import's plan is built from: literals quoted so that nothing a file holds ever becomes
SQL text, and the normalizations of the record services (tenant_apps.records.normalize) written set-based."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from tenant_apps.records import normalize

NOW = "{now}"  # replaced by the batch's timestamp literal


def quote(value: Any) -> str:
    """A SQL literal for a Python value (str, int, Decimal, bool, None, list of str)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | Decimal):
        return str(value)
    if isinstance(value, list | tuple):
        return "ARRAY[" + ", ".join(quote(item) for item in value) + "]::text[]"
    text = str(value)
    if "\x00" in text:
        raise ValueError("NUL in a SQL literal")
    return "'" + text.replace("'", "''") + "'"


def in_list(expression: str, values: list[str] | tuple[str, ...]) -> str:
    return f"{expression} IN ({', '.join(quote(value) for value in values)})"


# --- normalizations shared with the record services, in SQL ------------------------------------------------

EMAIL_RE = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
NUMBER_RE = r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)$"
DOMAIN_RE = r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"
NOT_ASCII = r"[^\x01-\x7f]"
NUMBER_FORMATS = ("1,234.56", "1.234,56")  # Organization.number_format: the grouping and decimal marks


def number(raw: str, number_format: str) -> str:
    """A numeric from a raw cell, NULL when it is no number: grouped as the organization writes numbers
    ("12,500.50", or "12.500,50"), a decimal comma where that is the organization's mark ("12,5"), or plain
    ("12500.50", as exports write amounts). In a "1.234,56" organization "1.500" is fifteen hundred."""
    group, point = number_format[1], number_format[5]
    mark = {".": "\\.", ",": ","}
    grouped = f"^[+-]?[0-9]{{1,3}}({mark[group]}[0-9]{{3}})+({mark[point]}[0-9]*)?$"
    plain = f"replace(replace({raw}, {quote(group)}, ''), {quote(point)}, '.')"
    cases = [f"WHEN {raw} ~ {quote(grouped)} THEN {plain}"]
    if point != ".":
        decimal_comma = "^[+-]?([0-9]+,[0-9]*|,[0-9]+)$"
        cases.append(f"WHEN {raw} ~ {quote(decimal_comma)} THEN replace({raw}, ',', '.')")
    cases.append(f"WHEN {raw} ~ {quote(NUMBER_RE)} THEN {raw}")
    return f"(CASE {' '.join(cases)} END)::numeric"


def unescaped(column: str) -> str:
    """A staged cell (already stripped) without the quote an export put before = + - @ (CSV injection
    escaping), so that an exported file imports back as it was."""
    return (
        f"CASE WHEN left({column}, 1) = '''' AND substr({column}, 2, 1) IN ('=', '+', '-', '@') "
        f"THEN substr({column}, 2) ELSE coalesce({column}, '') END"
    )


def unescaped_cell(cell: str) -> str:
    """unescaped() of one cell, in Python (for the values normalized as the file is read)."""
    return cell[1:] if cell[:1] == "'" and cell[1:2] and cell[1:2] in "=+-@" else cell


def ascii_lower(column: str) -> str:
    """normalize._fold's first steps: NFKD, ASCII only, lower case. (normalize() runs only on text that is
    not ASCII: it is the costly part and changes nothing in ASCII.)"""
    return (
        f"lower(CASE WHEN {column} ~ {quote(NOT_ASCII)} "
        f"THEN regexp_replace(normalize({column}, NFKD), {quote(NOT_ASCII)}, '', 'g') ELSE {column} END)"
    )


def collapsed(column: str) -> str:
    """normalize._fold's last step: runs of anything but a-z and 0-9 as one space, trimmed (the regexp
    replacement only where the text is not already so, as most names are)."""
    return (
        f"CASE WHEN {column} ~ '^[a-z0-9]+( [a-z0-9]+)*$' THEN {column} "
        f"ELSE btrim(regexp_replace({column}, '[^a-z0-9]+', ' ', 'g')) END"
    )


def without_suffixes(folded: str) -> str:
    """The folded company's words without legal suffixes (each replaced twice: ' inc inc ' overlaps)."""
    expression = f"' ' || {folded} || ' '"
    for suffix in sorted(normalize.COMPANY_SUFFIXES):
        expression = f"replace(replace({expression}, ' {suffix} ', ' '), ' {suffix} ', ' ')"
    return f"btrim({expression})"


def identity(folded_name: str, folded_company: str) -> str:
    """normalize.identity_key from the folded name and company: 'company words|name', '' without a company."""
    return f"coalesce(left(nullif({without_suffixes(folded_company)}, '') || '|' || {folded_name}, 420), '')"


def identity_key(name: str, company: str) -> str:
    """normalize.identity_key of two expressions, in one (for the few rows an update or a revert touches)."""
    return identity(fold(name), fold(company))


def fold(expression: str) -> str:
    return f"btrim(regexp_replace({ascii_lower(expression)}, '[^a-z0-9]+', ' ', 'g'))"


def domain(raw: str) -> str:
    """accounts.services.normalize_domain of an ASCII name (others are converted in Python first): no scheme,
    credentials, path, port, trailing dot or leading www."""
    host = f"regexp_replace(lower({raw}), '^[a-z][a-z0-9+.-]*://', '')"
    host = f"regexp_replace({host}, '[/?#].*$', '')"
    host = f"regexp_replace({host}, '^.*@', '')"
    host = f"regexp_replace({host}, ':[0-9]*$', '')"
    return f"regexp_replace(rtrim({host}, '.'), '^www\\.', '')"


TAG_SEPARATORS = re.compile(r"[;,|]")


def tags_cell(cell: str, extra: list[str]) -> tuple[str | None, str]:
    """A tags cell (tags separated by ; , or |) with the import's tags, as normalize.tags makes them, joined
    by ';' (None: no tags in the cell), and the problem ('' when none). Done while the file is read: per
    cell, it costs less in Python than in SQL."""
    if not cell:
        return None, ""
    cell = unescaped_cell(cell)
    pieces = (" ".join(piece.split()).lower() for piece in TAG_SEPARATORS.split(cell))
    found = list(dict.fromkeys(tag for tag in (*pieces, *extra) if tag))
    if len(found) > normalize.MAX_TAGS or any(len(tag) > 50 for tag in found):
        return None, f"at most {normalize.MAX_TAGS} tags of 1 to 50 characters"
    return ";".join(found), ""
