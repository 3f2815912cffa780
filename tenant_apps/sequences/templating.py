"""Step templates: Django's template language from a string, with a small vocabulary.

Only a few harmless tags and filters exist (no include, load, url, ljust:"999999999", ...), variables are
plain dicts built here (a template can never call a model method), and every variable a template uses must
be one of VARIABLES, so a typo such as {{ lead.nmae }} is refused when the step is saved instead of
rendering as nothing in a sent email.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from django.template import (
    Context,
    Engine,
    Library,
    Node,
    Template,
    TemplateSyntaxError,
    Variable,
    defaultfilters,
    defaulttags,
)
from django.template.base import FilterExpression, TextNode, VariableNode

from shared_apps.organizations.context import current_organization

ALLOWED_TAGS = ("if", "firstof", "comment", "now", "templatetag", "verbatim")
ALLOWED_FILTERS = (
    "capfirst",
    "cut",
    "default",
    "default_if_none",
    "lower",
    "title",
    "truncatechars",
    "truncatewords",
    "upper",
)
VARIABLES: dict[str, tuple[str, ...]] = {
    "lead": ("name", "first_name", "last_name", "email", "phone", "company"),
    "owner": ("full_name", "first_name", "email"),
    "organization": ("name",),
}

register = Library()
for _tag in ALLOWED_TAGS:
    register.tags[_tag] = defaulttags.register.tags[_tag]
for _filter in ALLOWED_FILTERS:
    register.filters[_filter] = defaultfilters.register.filters[_filter]


class _StepEngine(Engine):
    # this module's `register` replaces Django's default tags, filters and loader tags
    default_builtins = [__name__]


_engine = _StepEngine(autoescape=False, libraries={}, loaders=[])


def compile_template(source: str) -> Template:
    """Parse a step template; TemplateSyntaxError names the problem (bad syntax, a tag or filter that is
    not allowed, an unknown variable)."""
    try:
        template = _engine.from_string(source)
    except TemplateSyntaxError as error:
        raise TemplateSyntaxError(_explain(str(error))) from None
    for node in template.nodelist.get_nodes_by_type(TextNode):
        # Django leaves an unclosed {{ or {% as text: it would go out to the lead as is
        for opening in ("{{", "{%", "{#"):
            if opening in getattr(node, "s", ""):
                raise TemplateSyntaxError(f"'{opening}' is never closed.")
    for expression in _expressions(template):
        for lookups in _lookups(expression):
            _check_variable(lookups)
    return template


def _explain(message: str) -> str:
    tag = re.match(r"Invalid block tag on line \d+: '([^']+)'(, expected)?", message)
    if tag and tag.group(2):  # {% endfor %} where {% endif %} was expected: Django's message says it
        return message.split(". Did you forget")[0]
    if tag and (tag.group(1).startswith("end") or tag.group(1) in ("else", "elif")):
        return f"{{% {tag.group(1)} %}} without its opening tag."
    if tag:
        return f"The {{% {tag.group(1)} %}} tag is not available; use {', '.join(ALLOWED_TAGS)}."
    filter_name = re.match(r"Invalid filter: '([^']+)'", message)
    if filter_name:
        return f"The filter '{filter_name.group(1)}' is not available; use {', '.join(ALLOWED_FILTERS)}."
    return message


def _check_variable(lookups: tuple[str, ...]) -> None:
    name = ".".join(lookups)
    known = ", ".join(f"{root}.{field}" for root, fields in VARIABLES.items() for field in fields)
    if len(lookups) != 2 or lookups[1] not in VARIABLES.get(lookups[0], ()):
        raise TemplateSyntaxError(f"Unknown variable '{name}'; use one of {known}.")


def _expressions(template: Template) -> Iterator[FilterExpression]:
    for node in template.nodelist.get_nodes_by_type(Node):
        if isinstance(node, VariableNode):
            yield node.filter_expression
        elif isinstance(node, defaulttags.FirstOfNode):
            yield from node.vars
        elif isinstance(node, defaulttags.IfNode):
            for condition, _nodelist in node.conditions_nodelists:
                yield from _condition_expressions(condition)


def _condition_expressions(condition: Any) -> Iterator[FilterExpression]:
    if condition is None:  # {% else %}
        return
    if isinstance(getattr(condition, "value", None), FilterExpression):
        yield condition.value
    for operand in (getattr(condition, "first", None), getattr(condition, "second", None)):
        yield from _condition_expressions(operand)


def _lookups(expression: FilterExpression) -> Iterator[tuple[str, ...]]:
    variables = [expression.var]
    for _func, args in expression.filters:
        variables += [arg for is_variable, arg in args if is_variable]
    for variable in variables:
        if isinstance(variable, Variable) and variable.lookups is not None:
            yield tuple(variable.lookups)


def context_for(*, lead: Any, owner: Any | None) -> dict[str, dict[str, str]]:
    """The values a step can use: plain strings only."""
    names = (lead.name or "").split()
    owner_name = (owner.full_name or "").strip() if owner is not None else ""
    return {
        "lead": {
            "name": lead.name,
            "first_name": names[0] if names else "",
            "last_name": " ".join(names[1:]),
            "email": lead.email,
            "phone": lead.phone,
            "company": lead.company,
        },
        "owner": {
            "full_name": owner_name,
            "first_name": owner_name.split()[0] if owner_name else "",
            "email": owner.email if owner is not None else "",
        },
        "organization": {"name": current_organization().name},
    }


def render(source: str, values: dict[str, dict[str, str]]) -> str:
    return compile_template(source).render(Context(values, autoescape=False))
