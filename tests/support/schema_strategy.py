"""Hypothesis strategies from a JSON Schema: the subset pydantic writes for the protocol.

hypothesis-jsonschema does not run with current Hypothesis, and the protocol's schema uses only
a handful of keywords, so this walks them itself: $ref, anyOf/oneOf, const, enum, and the type
keywords with their bounds. A keyword it does not know fails loudly rather than being ignored.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hypothesis import strategies as st

Json = Any
# Keywords that describe a value without constraining it.
ANNOTATIONS = {"title", "description", "default", "examples", "discriminator", "$defs"}
HANDLED = {
    "$ref", "anyOf", "oneOf", "const", "enum", "type", "minimum", "maximum", "exclusiveMinimum",
    "exclusiveMaximum", "minLength", "maxLength", "minItems", "maxItems", "items", "properties",
    "required", "additionalProperties", "propertyNames",
}  # fmt: skip
# Unbounded numbers and strings stay small: the interesting edges come from the bounds.
MAX_UNBOUNDED_INT = 2**31
MAX_TEXT = 80
MAX_ITEMS = 8


def from_schema(schema: dict[str, Json]) -> st.SearchStrategy[Json]:
    """Values that satisfy `schema` (which may refer to its own `$defs`)."""
    return _strategy(schema, schema.get("$defs", {}))


def _strategy(schema: dict[str, Json], defs: dict[str, Json]) -> st.SearchStrategy[Json]:
    unknown = set(schema) - HANDLED - ANNOTATIONS
    if unknown:
        raise NotImplementedError(f"schema keywords not handled: {sorted(unknown)}")
    if "$ref" in schema:
        name = schema["$ref"].removeprefix("#/$defs/")
        return st.deferred(lambda: _strategy(defs[name], defs))
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return st.one_of([_strategy(option, defs) for option in schema[key]])
    if "const" in schema:
        return st.just(schema["const"])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind: str = schema.get("type", "")
    typed = TYPED.get(kind)
    if typed is None:
        raise NotImplementedError(f"schema without a known type: {schema}")
    return typed(schema, defs)


def _integer(schema: dict[str, Json], defs: dict[str, Json]) -> st.SearchStrategy[Json]:
    low = schema.get("minimum", schema.get("exclusiveMinimum", -MAX_UNBOUNDED_INT - 1) + 1)
    high = schema.get("maximum", schema.get("exclusiveMaximum", MAX_UNBOUNDED_INT + 1) - 1)
    return st.integers(low, high)


def _number(schema: dict[str, Json], defs: dict[str, Json]) -> st.SearchStrategy[Json]:
    return st.floats(
        min_value=schema.get("minimum", schema.get("exclusiveMinimum")),
        max_value=schema.get("maximum", schema.get("exclusiveMaximum")),
        exclude_min="exclusiveMinimum" in schema,
        exclude_max="exclusiveMaximum" in schema,
        allow_nan=False,
        allow_infinity=False,
    )


def _string(schema: dict[str, Json], defs: dict[str, Json]) -> st.SearchStrategy[Json]:
    return st.text(min_size=schema.get("minLength", 0), max_size=schema.get("maxLength", MAX_TEXT))


def _array(schema: dict[str, Json], defs: dict[str, Json]) -> st.SearchStrategy[Json]:
    return st.lists(
        _strategy(schema.get("items", {"type": "integer"}), defs),
        min_size=schema.get("minItems", 0),
        max_size=schema.get("maxItems", MAX_ITEMS),
    )


def _object(schema: dict[str, Json], defs: dict[str, Json]) -> st.SearchStrategy[Json]:
    properties = schema.get("properties", {})
    required = set(schema.get("required", []))
    if not properties:
        # A mapping such as dict[str, int]: keys from propertyNames, values from the rest.
        keys = _strategy(schema.get("propertyNames", {"type": "string"}), defs)
        values = schema.get("additionalProperties", {"type": "integer"})
        return st.dictionaries(keys, _strategy(values, defs), max_size=MAX_ITEMS)
    return st.fixed_dictionaries(
        {name: _strategy(s, defs) for name, s in properties.items() if name in required},
        optional={
            name: _strategy(s, defs) for name, s in properties.items() if name not in required
        },
    )


# One strategy per JSON type, each taking the schema's own bounds.
TYPED: dict[str, Callable[[dict[str, Json], dict[str, Json]], st.SearchStrategy[Json]]] = {
    "null": lambda schema, defs: st.none(),
    "boolean": lambda schema, defs: st.booleans(),
    "integer": _integer,
    "number": _number,
    "string": _string,
    "array": _array,
    "object": _object,
}
