"""A serializer's output built from a plan compiled once per serializer instance, not field by field.

DRF's `Serializer.to_representation` walks its fields for every object: a generator of readable fields, then
per field `get_attribute` (a generic attribute walk with Mapping and callable checks and exception handling),
a `PKOnlyObject` for each related id, and a context-local time zone lookup for every date-time. For a
list page (50 leads, 24 fields each) that walk was most of the serialization. `CompiledRepresentation` reads
the fields once, on first use, into a list of (name, read, render), then only calls those: a plain attribute
read, the related id read straight from its column, a date-time converted to the zone fixed at compile time.
Every field keeps its own `to_representation` for the value itself, so the output is the same, byte for
byte; anything the fast path does not recognise goes through the field's own DRF methods.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.exceptions import ObjectDoesNotExist
from django.utils import timezone
from rest_framework import ISO_8601, serializers
from rest_framework.fields import SkipField, is_simple_callable
from rest_framework.relations import PKOnlyObject, RelatedField
from rest_framework.settings import api_settings

Read = Callable[[Any], Any]
Render = Callable[[Any], Any]
Plan = list[tuple[str, Read, Render | None]]


def _identity(value: Any) -> Any:
    return value


def _attribute(field: serializers.Field, name: str) -> Read:
    """DRF's get_attribute for a one-step source; the field's own method whenever it is not the plain case."""

    def read(instance: Any) -> Any:
        try:
            value = getattr(instance, name)
        except ObjectDoesNotExist:
            return None
        except (KeyError, AttributeError):
            return field.get_attribute(instance)  # its default, None, SkipField or DRF's error
        if callable(value) and is_simple_callable(value):
            return field.get_attribute(instance)
        return value

    return read


def _related_id(field: RelatedField, name: str) -> tuple[Read, Render | None]:
    """A related object's primary key, read from the instance's column as DRF's pk-only optimization does."""

    def read(instance: Any) -> Any:
        value = instance.serializable_value(name)
        if is_simple_callable(value):
            return field.get_attribute(instance).pk  # type: ignore[union-attr]
        return value

    pk_field = getattr(field, "pk_field", None)
    if type(field) is serializers.PrimaryKeyRelatedField and pk_field is None:
        return read, None  # to_representation(PKOnlyObject(pk)) is the pk itself
    return read, lambda pk: field.to_representation(PKOnlyObject(pk=pk))


def _date_time(field: serializers.DateTimeField) -> Render:
    zone = field.timezone if hasattr(field, "timezone") else field.default_timezone()
    output_format = getattr(field, "format", api_settings.DATETIME_FORMAT)
    if zone is None or output_format is None or output_format.lower() != ISO_8601:
        return field.to_representation

    def render(value: Any) -> Any:
        if isinstance(value, str) or not value or value.tzinfo is None:
            return field.to_representation(value)
        try:
            text: str = value.astimezone(zone).isoformat()
        except OverflowError:
            return field.to_representation(value)
        return text[:-6] + "Z" if text.endswith("+00:00") else text

    return render


def compile_plan(serializer: serializers.Serializer) -> Plan:
    plan: Plan = []
    for field in serializer._readable_fields:  # DRF's own iteration, in its order
        name = str(field.field_name)
        if isinstance(field, serializers.SerializerMethodField):
            # DRF hands the method the instance itself; its result is the output as is (None included)
            plan.append((name, getattr(serializer, field.method_name), None))
            continue
        if field.source == "*":
            plan.append((name, _identity, field.to_representation))
            continue
        if len(field.source_attrs) != 1:
            plan.append((name, field.get_attribute, field.to_representation))
            continue
        source = field.source_attrs[0]
        if isinstance(field, RelatedField) and field.use_pk_only_optimization():
            plan.append((name, *_related_id(field, source)))
            continue
        render: Render = field.to_representation
        if isinstance(field, serializers.DateTimeField):
            render = _date_time(field)
        elif isinstance(field, serializers.Serializer) and not isinstance(field, serializers.ListSerializer):
            render = _compiled(field)
        plan.append((name, _attribute(field, source), render))
    return plan


def _compiled(serializer: serializers.Serializer) -> Render:
    plan: Plan | None = None

    def render(instance: Any) -> dict[str, Any]:
        nonlocal plan
        if plan is None:
            plan = compile_plan(serializer)
        return represent(plan, instance)

    return render


def represent(plan: Plan, instance: Any) -> dict[str, Any]:
    output: dict[str, Any] = {}
    for name, read, render in plan:
        try:
            value = read(instance)
        except SkipField:
            continue
        output[name] = value if render is None or value is None else render(value)
    return output


class _Method:
    """A SerializerMethodField's entry in a plan shared by a class: bound to each serializer at its first use
    (the method may keep per-serializer state, as LeadSerializer's stage labels do)."""

    def __init__(self, name: str) -> None:
        self.name = name


_SharedPlan = list[tuple[str, Read | _Method, Render | None]]
_class_plans: dict[tuple[type, Any], _SharedPlan] = {}


class CompiledRepresentation(serializers.Serializer):
    """Mix in first: `to_representation` from a plan compiled on first use (see the module's docstring).
    The time zone of date-times is the one current when the plan is compiled (a request's, for its page).

    `plan_per_class = True` keeps one plan per class and time zone for the process (compiling costs a
    ModelSerializer's field introspection, ~0.3 ms): only for serializers whose fields do not depend on the
    serializer's context or arguments; method fields are still bound to each serializer."""

    plan_per_class = False

    def to_representation(self, instance: Any) -> dict[str, Any]:
        plan: Plan | None = self.__dict__.get("_representation_plan")
        if plan is None:
            plan = self.__dict__["_representation_plan"] = self._plan()
        return represent(plan, instance)

    def _plan(self) -> Plan:
        if not self.plan_per_class:
            return compile_plan(self)
        key = (type(self), timezone.get_current_timezone())
        shared = _class_plans.get(key)
        if shared is None:
            shared = [
                (
                    name,
                    _Method(read.__name__)
                    if render is None and getattr(read, "__self__", None) is self
                    else read,
                    render,
                )
                for name, read, render in compile_plan(self)
            ]
            _class_plans[key] = shared
        return [
            (name, getattr(self, read.name) if isinstance(read, _Method) else read, render)
            for name, read, render in shared
        ]
