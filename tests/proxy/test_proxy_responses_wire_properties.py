"""Properties of the proxy's Responses wire: any answer streams as events the official SDK's
types accept, numbered without gaps, with every item opened before it is closed and the
final response holding exactly the text and arguments that were streamed; any JSON a client
sends is either a request or a 400, and input items keep their calls, results and order."""

from __future__ import annotations

import itertools
import json
import typing

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from modelrouter.backends.base import TextDelta, ToolCallDelta, ToolCallEnd, ToolCallStart, Usage
from modelrouter.proxy.request import RequestError
from modelrouter.proxy.responses_api import StreamWriter, parse_request
from modelrouter.transcript import Text, ToolCall, ToolResult

responses_types = pytest.importorskip("openai.types.responses")
# The SDK's model of each event type, found by its `type` literal.
_MODELS = {
    typing.get_args(model.model_fields["type"].annotation)[0]: model
    for model in typing.get_args(typing.get_args(responses_types.ResponseStreamEvent)[0])
}


def _validate(event: dict) -> None:
    _MODELS[event["type"]].model_validate(event, strict=False)


FUZZ = settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None
)

texts = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=20)
# An answer: runs of text and whole tool calls (name, argument pieces), in any order.
segments = st.lists(
    st.one_of(
        st.lists(texts, min_size=1, max_size=4).map(lambda t: ("text", t)),
        st.tuples(st.from_regex(r"[a-z_]{1,12}", fullmatch=True), st.lists(texts, max_size=4)).map(
            lambda c: ("call", c)
        ),
    ),
    max_size=6,
)


def _events(answer: list) -> list:
    events: list = []
    calls = 0
    for kind, value in answer:
        if kind == "text":
            events += [TextDelta(t) for t in value]
        else:
            name, pieces = value
            events.append(ToolCallStart(calls, f"call_{calls}", name))
            events += [ToolCallDelta(calls, p) for p in pieces]
            events.append(ToolCallEnd(calls))
            calls += 1
    return events


def _parse_sse(data: bytes) -> list[dict]:
    out = []
    for block in data.decode().split("\n\n"):
        if not block:
            continue
        event_line, data_line = block.split("\n")
        payload = json.loads(data_line.removeprefix("data: "))
        assert event_line == f"event: {payload['type']}"
        out.append(payload)
    return out


def _expected_output(answer: list) -> list[tuple[str, str]]:
    """(kind, text or arguments) per output item: adjacent text runs are one message."""
    items: list[tuple[str, str]] = []
    for kind, value in answer:
        if kind == "text":
            if items and items[-1][0] == "message":
                items[-1] = ("message", items[-1][1] + "".join(value))
            else:
                items.append(("message", "".join(value)))
        else:
            items.append(("function_call", "".join(value[1])))
    return items


@FUZZ
@given(answer=segments, stop=st.sampled_from(["end_turn", "tool_use", "max_tokens"]))
def test_any_answer_streams_as_valid_numbered_events(answer, stop):
    writer = StreamWriter("m", {"tools": []})
    data = writer.start()
    for event in _events(answer):
        data += writer.feed(event)
    data += writer.finish(stop, Usage(3, 4))
    events = _parse_sse(data)
    for e in events:
        _validate(e)
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    opened: set[str] = set()
    for e in events:
        if e["type"] == "response.output_item.added":
            opened.add(e["item"]["id"])
        elif "item_id" in e:
            assert e["item_id"] in opened
    final = events[-1]["response"]
    assert events[-1]["type"] == (
        "response.incomplete" if stop == "max_tokens" else "response.completed"
    )
    got = [
        (i["type"], i["content"][0]["text"] if i["type"] == "message" else i["arguments"])
        for i in final["output"]
    ]
    assert got == _expected_output(answer)
    done = [e["output_index"] for e in events if e["type"] == "response.output_item.done"]
    assert done == list(range(len(final["output"])))
    assert final["usage"]["total_tokens"] == 7


@FUZZ
@given(answer=segments)
def test_a_failure_ends_any_partial_stream_with_a_failed_response(answer):
    writer = StreamWriter("m", {})
    data = writer.start()
    for event in _events(answer):
        data += writer.feed(event)
    events = _parse_sse(data + writer.error(502, "it broke"))
    for e in events:
        _validate(e)
    assert [e["type"] for e in events[-2:]] == ["error", "response.failed"]
    assert events[-1]["response"]["error"]["message"] == "it broke"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=20,
)
item_keys = st.sampled_from(
    ["type", "role", "content", "call_id", "name", "arguments", "output", "text"]
)
hostile_items = st.dictionaries(
    item_keys,
    st.one_of(
        json_values,
        st.sampled_from(
            ["message", "function_call", "function_call_output", "reasoning", "user", "developer"]
        ),
    ),
    max_size=6,
)


@FUZZ
@given(
    body=st.one_of(
        json_values,
        st.fixed_dictionaries(
            {"model": st.just("m"), "input": st.one_of(json_values, st.lists(hostile_items))},
            optional={"tools": json_values, "tool_choice": json_values, "text": json_values},
        ),
    )
)
def test_hostile_bodies_parse_or_are_a_400(body):
    try:
        request = parse_request(body, {}, None)
    except RequestError as exc:
        assert str(exc)
    else:
        assert request.messages and request.wire == "responses"


@FUZZ
@given(
    turns=st.lists(
        st.tuples(texts, st.lists(st.tuples(texts, texts), max_size=3)), min_size=1, max_size=4
    )
)
def test_input_items_keep_every_call_result_and_turn(turns):
    items: list[dict] = []
    expected_calls: list[tuple[str, str]] = []
    for n, (question, calls) in enumerate(turns):
        items.append({"role": "user", "content": [{"type": "input_text", "text": question}]})
        ids = [f"c{n}_{k}" for k in range(len(calls))]
        for call_id, (arguments, _) in zip(ids, calls, strict=True):
            items.append(
                {"type": "function_call", "call_id": call_id, "name": "f", "arguments": arguments}
            )
            expected_calls.append((call_id, arguments))
        for call_id, (_, output) in zip(ids, calls, strict=True):
            items.append({"type": "function_call_output", "call_id": call_id, "output": output})
    request = parse_request({"model": "m", "input": items}, {}, None)
    parts = [p for m in request.messages for p in m.all_parts()]
    assert [(p.id, p.arguments) for p in parts if isinstance(p, ToolCall)] == expected_calls
    outputs = [(p.call_id, p.text, p.name) for p in parts if isinstance(p, ToolResult)]
    assert outputs == [
        (f"c{n}_{k}", out, "f")
        for n, (_, calls) in enumerate(turns)
        for k, (_, out) in enumerate(calls)
    ]
    questions = [
        p.text
        for m in request.messages
        if m.role == "user"
        for p in m.all_parts()
        if isinstance(p, Text)
    ]
    assert questions == [q for q, _ in turns]
    roles = [m.role for m in request.messages]
    assert all(a != b or a == "user" for a, b in itertools.pairwise(roles))
