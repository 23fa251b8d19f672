"""Translating tool schemas and agent transcripts: property-based over schemas for Gemini's
subset, and trimming that never splits a tool call from its result."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from modelrouter.transcript import (
    Message,
    Text,
    ToolCall,
    ToolResult,
    gemini_schema,
    to_anthropic,
    to_openai,
    trim,
)

ALLOWED = {
    "type", "format", "description", "nullable", "enum", "maxItems", "minItems", "properties",
    "required", "items", "anyOf", "minimum", "maximum", "minLength", "maxLength", "pattern",
    "title", "propertyOrdering",
}  # fmt: skip

leaf = st.fixed_dictionaries(
    {"type": st.sampled_from(["string", "integer", "number", "boolean", ["string", "null"]])},
    optional={
        "default": st.integers(),
        "examples": st.lists(st.integers(), max_size=2),
        "exclusiveMinimum": st.integers(),
        "const": st.text(max_size=3),
        "format": st.sampled_from(["uri", "date-time", "email"]),
        "$comment": st.text(max_size=5),
    },
)
schemas = st.recursive(
    leaf,
    lambda inner: st.one_of(
        st.builds(
            lambda props, extra: {
                "type": "object",
                "properties": props,
                "required": [*list(props)[:1], "missing"],
                "additionalProperties": extra,
            },
            st.dictionaries(st.text("abc", min_size=1, max_size=3), inner, max_size=3),
            st.booleans(),
        ),
        st.builds(lambda items: {"type": "array", "items": items, "uniqueItems": True}, inner),
        st.builds(lambda alts: {"oneOf": alts}, st.lists(inner, min_size=1, max_size=3)),
    ),
    max_leaves=8,
)


def _keys(schema):
    if isinstance(schema, dict):
        for key, value in schema.items():
            yield key
            if key == "properties":
                for sub in value.values():
                    yield from _keys(sub)
            elif key in ("items",):
                yield from _keys(value)
            elif key == "anyOf":
                for sub in value:
                    yield from _keys(sub)


@given(schemas)
def test_gemini_schemas_use_only_keywords_gemini_accepts(schema):
    out = gemini_schema(schema)
    assert set(_keys(out)) <= ALLOWED
    stack = [out]
    while stack:
        node = stack.pop()
        if "required" in node:
            assert set(node["required"]) <= set(node.get("properties", {}))
        if isinstance(node.get("type"), list):
            raise AssertionError("type lists are not Gemini's")
        stack += list(node.get("properties", {}).values())
        stack += [node["items"]] if "items" in node else []
        stack += node.get("anyOf", [])


def test_refs_are_inlined_for_gemini():
    schema = {
        "type": "object",
        "properties": {"edit": {"$ref": "#/$defs/Edit"}},
        "$defs": {"Edit": {"type": "object", "properties": {"old": {"type": "string"}}}},
    }
    assert gemini_schema(schema)["properties"]["edit"] == {
        "type": "object",
        "properties": {"old": {"type": "string"}},
    }


def _task(n: int) -> list[Message]:
    talk = [Message("system", "S"), Message("user", "start " + "x" * 400)]
    for i in range(n):
        talk.append(Message.of("assistant", [ToolCall(f"c{i}", "Read", '{"file_path": "a"}')]))
        talk.append(Message.of("user", [ToolResult(f"c{i}", (Text("y" * 200),))]))
    return talk


@given(st.integers(min_value=1, max_value=12), st.integers(min_value=300, max_value=3000))
def test_trim_never_starts_with_an_orphan_tool_result(n, window):
    try:
        kept = trim(_task(n), context_window=window, reserve=50)
    except ValueError:
        return
    turns = [m for m in kept if m.role != "system"]
    assert turns[0].role == "user" and not turns[0].tool_results
    _, anthropic_turns = to_anthropic(kept)
    assert anthropic_turns[0]["role"] == "user"
    calls = {c["id"] for m in to_openai(kept) for c in m.get("tool_calls", [])}
    assert all(m["tool_call_id"] in calls for m in to_openai(kept) if m["role"] == "tool")
