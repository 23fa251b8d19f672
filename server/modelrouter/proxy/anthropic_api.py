"""The Anthropic Messages wire format on the proxy side: requests in, SSE or JSON out.

Accepts what Claude Code sends: `system` as a string or blocks, `system` turns mid-
conversation, text / image / tool_use / tool_result / thinking / redacted_thinking blocks,
tools, tool_choice, thinking settings, metadata. Unknown block types are refused with a
400 that names them, never dropped silently.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from modelrouter.backends.base import (
    ContentEvent,
    TextDelta,
    ThinkingDelta,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
    Usage,
)
from modelrouter.proxy.request import (
    AgentRequest,
    RequestError,
    model_of,
    number,
    output_limit,
    string,
)
from modelrouter.transcript import (
    CallOptions,
    Image,
    Message,
    Part,
    Text,
    Thinking,
    Tool,
    ToolCall,
    ToolChoice,
    ToolResult,
)

# Error types of the Messages API, by HTTP status.
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    502: "api_error",
    503: "overloaded_error",
    529: "overloaded_error",
}


def error_body(status: int, message: str) -> dict[str, Any]:
    """An error in the Messages API's shape."""
    return {
        "type": "error",
        "error": {"type": ERROR_TYPES.get(status, "api_error"), "message": message},
    }


def _text_of(value: Any, what: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        texts = []
        for block in value:
            if not isinstance(block, dict) or block.get("type") != "text":
                raise RequestError(f"{what}: only text blocks are allowed here")
            texts.append(string(block.get("text"), f"{what}.text"))
        return "\n\n".join(texts)
    if value is None:
        return ""
    raise RequestError(f"{what}: must be a string or a list of text blocks")


def _image(block: dict, what: str) -> Image:
    source = block.get("source")
    if not isinstance(source, dict):
        raise RequestError(f"{what}.source: must be an object")
    if source.get("type") == "base64":
        return Image(
            string(source.get("media_type"), f"{what}.source.media_type"),
            data=string(source.get("data"), f"{what}.source.data"),
        )
    if source.get("type") == "url":
        return Image(url=string(source.get("url"), f"{what}.source.url"))
    raise RequestError(f"{what}.source.type: must be base64 or url")


def _block(block: Any, what: str, role: str) -> Part | None:
    if not isinstance(block, dict):
        raise RequestError(f"{what}: must be an object")
    kind = block.get("type")
    if kind == "text":
        return Text(string(block.get("text"), f"{what}.text"))
    if kind == "image":
        return _image(block, what)
    if kind == "tool_use" and role == "assistant":
        arguments = json.dumps(block.get("input") if block.get("input") is not None else {})
        return ToolCall(
            string(block.get("id"), f"{what}.id"),
            string(block.get("name"), f"{what}.name"),
            arguments,
        )
    if kind == "tool_result" and role == "user":
        content = block.get("content")
        if isinstance(content, str) or content is None:
            parts: tuple[Text | Image, ...] = (Text(content or ""),)
        elif isinstance(content, list):
            inner = []
            for j, item in enumerate(content):
                sub = _block(item, f"{what}.content.{j}", "user")
                if isinstance(sub, (Text, Image)):
                    inner.append(sub)
            parts = tuple(inner)
        else:
            raise RequestError(f"{what}.content: must be a string or a list of blocks")
        return ToolResult(
            string(block.get("tool_use_id"), f"{what}.tool_use_id"),
            parts,
            is_error=bool(block.get("is_error")),
        )
    if kind == "thinking":
        return Thinking(str(block.get("thinking") or ""), str(block.get("signature") or ""))
    if kind == "redacted_thinking":
        return Thinking(redacted=str(block.get("data") or ""))
    if kind == "document":
        source = block.get("source") or {}
        if isinstance(source, dict) and source.get("type") == "text":
            return Text(str(source.get("data") or ""))
        raise RequestError(f"{what}: only text documents can be routed")
    raise RequestError(f"{what}: unsupported content block type {kind!r} in a {role} turn")


def _messages(body: dict) -> list[Message]:
    out: list[Message] = []
    system = body.get("system")
    if system:
        out.append(Message("system", _text_of(system, "system")))
    raw = body.get("messages")
    if not isinstance(raw, list) or not raw:
        raise RequestError("messages: must be a non-empty list")
    for i, m in enumerate(raw):
        what = f"messages.{i}"
        if not isinstance(m, dict):
            raise RequestError(f"{what}: must be an object")
        role = m.get("role")
        if role == "system":
            out.append(Message("system", _text_of(m.get("content"), what)))
            continue
        if role not in ("user", "assistant"):
            raise RequestError(f"{what}.role: must be user, assistant or system")
        content = m.get("content")
        if isinstance(content, str):
            out.append(Message(role, content))
            continue
        if not isinstance(content, list):
            raise RequestError(f"{what}.content: must be a string or a list of blocks")
        parts = [p for j, b in enumerate(content) if (p := _block(b, f"{what}.content.{j}", role))]
        out.append(Message.of(role, parts))
    return out


def _tools(body: dict) -> tuple[Tool, ...]:
    raw = body.get("tools") or []
    if not isinstance(raw, list):
        raise RequestError("tools: must be a list")
    tools = []
    for i, t in enumerate(raw):
        if not isinstance(t, dict):
            raise RequestError(f"tools.{i}: must be an object")
        if "input_schema" not in t:
            continue  # a server tool (web search…): only an Anthropic backend runs it
        schema = t.get("input_schema")
        if not isinstance(schema, dict):
            raise RequestError(f"tools.{i}.input_schema: must be an object")
        tools.append(
            Tool(string(t.get("name"), f"tools.{i}.name"), str(t.get("description") or ""), schema)
        )
    return tuple(tools)


def _tool_choice(value: Any) -> ToolChoice | None:
    if value is None:
        return None
    if not isinstance(value, dict) or value.get("type") not in ("auto", "any", "tool", "none"):
        raise RequestError("tool_choice.type: must be auto, any, tool or none")
    name = str(value.get("name") or "")
    if value["type"] == "tool" and not name:
        raise RequestError("tool_choice.name: required when type is tool")
    return ToolChoice(value["type"], name, parallel=not value.get("disable_parallel_tool_use"))


def parse_request(body: Any, headers: dict[str, str], client_key: str | None) -> AgentRequest:
    """The Messages API request `body` as an `AgentRequest`; raises `RequestError`."""
    model = model_of(body)
    max_tokens = output_limit(body.get("max_tokens"), "max_tokens")
    if max_tokens is None:  # required on this wire
        raise RequestError("max_tokens: must be a positive integer")
    stop = body.get("stop_sequences") or []
    if not isinstance(stop, list) or not all(isinstance(s, str) for s in stop):
        raise RequestError("stop_sequences: must be a list of strings")
    options = CallOptions(
        tools=_tools(body),
        tool_choice=_tool_choice(body.get("tool_choice")),
        max_tokens=max_tokens,
        temperature=number(body.get("temperature")),
        top_p=number(body.get("top_p")),
        stop=tuple(stop),
        thinking=body.get("thinking") if isinstance(body.get("thinking"), dict) else None,
        passthrough={k: v for k, v in body.items() if k != "stream"},
        passthrough_headers={
            k: v for k, v in headers.items() if k in ("anthropic-beta", "anthropic-version")
        },
        client_key=client_key,
    )
    return AgentRequest(
        wire="anthropic",
        model=model,
        messages=_messages(body),
        options=options,
        stream=bool(body.get("stream")),
        session=headers.get("x-claude-code-session-id"),
    )


# -- responses --------------------------------------------------------------------------------


def message_id() -> str:
    return f"msg_{secrets.token_hex(12)}"


def _usage(usage: Usage) -> dict[str, int]:
    return {"input_tokens": usage.input_tokens, "output_tokens": usage.output_tokens}


def whole_message(model: str, parts: tuple[Part, ...], text: str, stop: str, usage: Usage) -> dict:
    """A non-streamed Messages API response."""
    content: list[dict[str, Any]] = []
    for p in parts or ((Text(text),) if text else ()):
        if isinstance(p, Text):
            content.append({"type": "text", "text": p.text})
        elif isinstance(p, ToolCall):
            content.append({"type": "tool_use", "id": p.id, "name": p.name, "input": p.input()})
        elif isinstance(p, Thinking) and p.redacted:
            content.append({"type": "redacted_thinking", "data": p.redacted})
        elif isinstance(p, Thinking):
            content.append({"type": "thinking", "thinking": p.text, "signature": p.signature})
    return {
        "id": message_id(),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": _usage(usage),
    }


def _sse(event: str, data: dict) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


class StreamWriter:
    """Neutral stream events as Messages API server-sent events, blocks opened and closed."""

    def __init__(self, model: str, input_tokens: int) -> None:
        self.model = model
        self.input_tokens = input_tokens
        self._index = -1
        self._open: str | None = None  # type of the open content block
        self._calls: dict[int, int] = {}  # neutral tool-call index -> block index

    def start(self) -> bytes:
        message = {
            "id": message_id(),
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": self.input_tokens, "output_tokens": 0},
        }
        return _sse("message_start", {"type": "message_start", "message": message}) + _sse(
            "ping", {"type": "ping"}
        )

    def _close(self) -> bytes:
        if self._open is None:
            return b""
        self._open = None
        return _sse("content_block_stop", {"type": "content_block_stop", "index": self._index})

    def _begin(self, block: dict) -> bytes:
        out = self._close()
        self._index += 1
        self._open = block["type"]
        return out + _sse(
            "content_block_start",
            {"type": "content_block_start", "index": self._index, "content_block": block},
        )

    def _delta(self, delta: dict, index: int | None = None) -> bytes:
        at = self._index if index is None else index
        return _sse(
            "content_block_delta", {"type": "content_block_delta", "index": at, "delta": delta}
        )

    def feed(self, event: ContentEvent) -> bytes:
        """The SSE bytes for one neutral event."""
        if isinstance(event, TextDelta):
            if not event.text:
                return b""
            out = b"" if self._open == "text" else self._begin({"type": "text", "text": ""})
            return out + self._delta({"type": "text_delta", "text": event.text})
        if isinstance(event, ToolCallStart):
            call_id = event.id or f"toolu_{secrets.token_hex(12)}"
            out = self._begin({"type": "tool_use", "id": call_id, "name": event.name, "input": {}})
            self._calls[event.index] = self._index
            return out
        if isinstance(event, ToolCallDelta):
            at = self._calls.get(event.index, self._index)
            return self._delta({"type": "input_json_delta", "partial_json": event.arguments}, at)
        if isinstance(event, ToolCallEnd):
            return self._close() if self._calls.get(event.index) == self._index else b""
        if isinstance(event, ThinkingDelta):
            if event.redacted:
                return (
                    self._begin({"type": "redacted_thinking", "data": event.redacted})
                    + self._close()
                )
            out = (
                b""
                if self._open == "thinking"
                else self._begin({"type": "thinking", "thinking": "", "signature": ""})
            )
            if event.text:
                out += self._delta({"type": "thinking_delta", "thinking": event.text})
            if event.signature:
                out += self._delta({"type": "signature_delta", "signature": event.signature})
            return out
        return b""

    def finish(self, stop_reason: str, usage: Usage) -> bytes:
        """Close the open block and end the message."""
        delta = {
            "type": "message_delta",
            "delta": {"stop_reason": stop_reason, "stop_sequence": None},
            "usage": _usage(usage),
        }
        return (
            self._close()
            + _sse("message_delta", delta)
            + _sse("message_stop", {"type": "message_stop"})
        )

    def error(self, status: int, message: str) -> bytes:
        """A mid-stream error event: the client knows the answer is not whole."""
        return _sse("error", error_body(status, message))


def count_tokens_reply(input_tokens: int) -> dict[str, int]:
    """The body of a count_tokens response."""
    return {"input_tokens": input_tokens}
