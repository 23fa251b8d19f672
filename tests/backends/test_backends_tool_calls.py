"""Tool calls through every backend wire: sent in its format, streamed back as neutral events,
answered with results the fake provider accepts (and refused, like the real services, when
the results do not answer the calls)."""

from __future__ import annotations

import json

import pytest
from modelrouter.backends import make_backend
from modelrouter.backends.base import (
    BackendError,
    StreamDone,
    TextDelta,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
)
from modelrouter.transcript import (
    CallOptions,
    Message,
    Text,
    Tool,
    ToolCall,
    ToolChoice,
    ToolResult,
)
from support import upstream
from support.fakes.provider import Reply
from support.fakes.rules import backend

pytestmark = pytest.mark.usefixtures("upstream_transport")
WIRES = ["openai", "anthropic", "gemini", "ollama"]
TOOL = Tool(
    "Edit",
    "Edit a file",
    {
        "type": "object",
        "properties": {"file_path": {"type": "string"}, "new": {"type": "string"}},
        "required": ["file_path", "new"],
    },
)


async def _collect(wire: str, fake, messages, options):
    cfg = backend(wire, wire, fake.base_url(wire, wire))
    async with upstream.client() as client:
        return [e async for e in make_backend(cfg, client).stream(messages, options)]


@pytest.mark.parametrize("wire", WIRES)
async def test_tool_calls_stream_back_as_neutral_events(wire, fake_provider):
    arguments = {"file_path": "g.py", "new": "print('hi')"}
    fake_provider.default(wire, Reply(text="Editing.", tool_calls=[("Edit", arguments)]))
    options = CallOptions(tools=(TOOL,), tool_choice=ToolChoice("auto"), max_tokens=100)
    events = await _collect(wire, fake_provider, [Message("user", "fix g.py")], options)
    text = "".join(e.text for e in events if isinstance(e, TextDelta))
    starts = [e for e in events if isinstance(e, ToolCallStart)]
    pieces = "".join(e.arguments for e in events if isinstance(e, ToolCallDelta))
    assert text == "Editing."
    assert [s.name for s in starts] == ["Edit"] and starts[0].id
    assert json.loads(pieces) == arguments
    assert any(isinstance(e, ToolCallEnd) for e in events)
    done = events[-1]
    assert isinstance(done, StreamDone) and done.stop_reason == "tool_use"
    body = json.dumps(fake_provider.requests_to(wire)[0].body)
    assert '"Edit"' in body and "file_path" in body


@pytest.mark.parametrize("wire", WIRES)
async def test_results_that_answer_their_calls_are_accepted(wire, fake_provider):
    fake_provider.default(wire, Reply(text="Fixed."))
    call = ToolCall("call_1", "Edit", '{"file_path": "g.py", "new": "x"}')
    messages = [
        Message("system", "be brief"),
        Message("user", "fix g.py"),
        Message.of("assistant", [Text("Editing."), call]),
        Message.of("user", [ToolResult("call_1", (Text("ok"),), name="Edit")]),
    ]
    events = await _collect(wire, fake_provider, messages, CallOptions(tools=(TOOL,)))
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "Fixed."
    assert fake_provider.requests_to(wire)[0].rejected is None


@pytest.mark.parametrize("wire", WIRES)
async def test_results_without_their_calls_are_refused(wire, fake_provider):
    messages = [
        Message("user", "fix g.py"),
        Message("assistant", "I will."),
        Message.of("user", [ToolResult("call_9", (Text("ok"),), name="Edit")]),
    ]
    with pytest.raises(BackendError) as caught:
        await _collect(wire, fake_provider, messages, CallOptions(tools=(TOOL,)))
    assert caught.value.kind == "bad_request"
    assert fake_provider.requests_to(wire)[0].rejected


@pytest.mark.parametrize("wire", WIRES)
async def test_a_cut_answer_stops_for_max_tokens(wire, fake_provider):
    fake_provider.default(wire, Reply(text="partial", stop="max_tokens"))
    events = await _collect(wire, fake_provider, [Message("user", "go")], CallOptions())
    assert events[-1].stop_reason == "max_tokens"


async def test_plain_text_requests_are_sent_exactly_as_before(fake_provider):
    fake_provider.default("openai", Reply(text="hi"))
    await _collect("openai", fake_provider, [Message("user", "hello")], CallOptions())
    body = fake_provider.requests_to("openai")[0].body
    assert body["messages"] == [{"role": "user", "content": "hello"}]
    assert "tools" not in body
