"""The OpenAI chat-completions wire format on the proxy side: requests in, SSE or JSON out.

Accepts `tools`, `tool_choice`, `parallel_tool_calls`, `tool` role messages, image parts,
`stream_options.include_usage`, `response_format` (passed to targets that take it),
`max_tokens` / `max_completion_tokens`, `stop`.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import time
from typing import Any

from modelrouter.backends.base import (
    ContentEvent,
    TextDelta,
    ToolCallDelta,
    ToolCallStart,
    Usage,
)
from modelrouter.proxy.request import (
    AgentRequest,
    RequestError,
    allowed_tools,
    model_of,
    number,
    openai_tool_choice,
    output_limit,
    string,
)
from modelrouter.transcript import (
    CallOptions,
    Image,
    Message,
    Part,
    Text,
    Tool,
    ToolCall,
    ToolChoice,
    ToolResult,
)

FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}
_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    404: "not_found_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
}


def error_body(status: int, message: str) -> dict[str, Any]:
    """An error in OpenAI's shape."""
    kind = _ERROR_TYPES.get(status, "server_error")
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}


def _image(url: str) -> Image:
    if url.startswith("data:"):
        head, _, data = url.partition(",")
        media_type = head.removeprefix("data:").split(";", 1)[0] or "image/png"
        try:
            base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            raise RequestError("image_url: the data URL is not valid base64") from None
        return Image(media_type, data=data)
    return Image(url=url)


def _content_parts(content: Any, what: str) -> list[Text | Image]:
    if content is None:
        return []
    if isinstance(content, str):
        return [Text(content)]
    if not isinstance(content, list):
        raise RequestError(f"{what}: must be a string or a list of parts")
    parts: list[Text | Image] = []
    for j, item in enumerate(content):
        if not isinstance(item, dict):
            raise RequestError(f"{what}[{j}]: must be an object")
        kind = item.get("type")
        if kind == "text":
            parts.append(Text(string(item.get("text"), f"{what}[{j}].text")))
        elif kind == "image_url":
            image = item.get("image_url")
            url = image.get("url") if isinstance(image, dict) else image
            parts.append(_image(string(url, f"{what}[{j}].image_url.url")))
        else:
            raise RequestError(f"{what}[{j}]: unsupported content part type {kind!r}")
    return parts


def _messages(body: dict) -> list[Message]:
    raw = body.get("messages")
    if not isinstance(raw, list) or not raw:
        raise RequestError("messages: must be a non-empty list")
    out: list[Message] = []
    names: dict[str, str] = {}  # tool call id -> tool name
    for i, m in enumerate(raw):
        what = f"messages[{i}]"
        if not isinstance(m, dict):
            raise RequestError(f"{what}: must be an object")
        role = m.get("role")
        if role in ("system", "developer"):
            text = "\n\n".join(
                p.text for p in _content_parts(m.get("content"), what) if isinstance(p, Text)
            )
            out.append(Message("system", text))
        elif role == "user":
            out.append(Message.of("user", _content_parts(m.get("content"), f"{what}.content")))
        elif role == "assistant":
            parts: list[Part] = list(_content_parts(m.get("content"), f"{what}.content"))
            for k, call in enumerate(m.get("tool_calls") or ()):
                where = f"{what}.tool_calls[{k}]"
                function = call.get("function") if isinstance(call, dict) else None
                if not isinstance(function, dict):
                    raise RequestError(f"{where}.function: must be an object")
                call_id = string(call.get("id"), f"{where}.id")
                name = string(function.get("name"), f"{where}.function.name")
                names[call_id] = name
                parts.append(ToolCall(call_id, name, str(function.get("arguments") or "{}")))
            out.append(Message.of("assistant", parts))
        elif role == "tool":
            call_id = string(m.get("tool_call_id"), f"{what}.tool_call_id")
            content = _content_parts(m.get("content"), f"{what}.content")
            result = ToolResult(call_id, tuple(content), name=names.get(call_id, ""))
            # Consecutive tool messages answer one assistant turn: one user turn of results.
            last = out[-1] if out else None
            if (
                last is not None
                and last.role == "user"
                and last.tool_results
                and len(last.parts) == len(last.tool_results)
            ):
                out[-1] = Message.of("user", [*last.parts, result])
            else:
                out.append(Message.of("user", [result]))
        else:
            raise RequestError(f"{what}.role: must be system, developer, user, assistant or tool")
    return out


def _tools(body: dict) -> tuple[Tool, ...]:
    raw = body.get("tools") or []
    if not isinstance(raw, list):
        raise RequestError("tools: must be a list")
    tools = []
    for i, t in enumerate(raw):
        function = t.get("function") if isinstance(t, dict) else None
        if not isinstance(function, dict):
            raise RequestError(f"tools[{i}].function: must be an object")
        schema = function.get("parameters") or {"type": "object", "properties": {}}
        if not isinstance(schema, dict):
            raise RequestError(f"tools[{i}].function.parameters: must be an object")
        tools.append(
            Tool(
                string(function.get("name"), f"tools[{i}].function.name"),
                str(function.get("description") or ""),
                schema,
            )
        )
    return tuple(tools)


def _tools_and_choice(body: dict) -> tuple[tuple[Tool, ...], ToolChoice | None]:
    tools, value = _tools(body), body.get("tool_choice")
    if isinstance(value, dict) and value.get("type") == "allowed_tools":
        allowed = value.get("allowed_tools")
        allowed = allowed if isinstance(allowed, dict) else {}
        value, tools = allowed_tools(
            tools,
            allowed.get("mode"),
            allowed.get("tools"),
            lambda t: (t.get("function") or {}).get("name"),
        )
    return tools, _tool_choice(value, body.get("parallel_tool_calls"))


def _tool_choice(value: Any, parallel: Any) -> ToolChoice | None:
    function = value.get("function") if isinstance(value, dict) else None
    named = (
        string(function.get("name"), "tool_choice.function.name")
        if isinstance(function, dict)
        else None
    )
    return openai_tool_choice(value, parallel, named)


def parse_request(body: Any, headers: dict[str, str], client_key: str | None) -> AgentRequest:
    """The chat-completions request `body` as an `AgentRequest`; raises `RequestError`."""
    model = model_of(body)
    limit = output_limit(body.get("max_completion_tokens", body.get("max_tokens")), "max_tokens")
    stop = body.get("stop") or []
    stop = [stop] if isinstance(stop, str) else stop
    if not isinstance(stop, list) or not all(isinstance(s, str) for s in stop):
        raise RequestError("stop: must be a string or a list of strings")
    response_format = body.get("response_format")
    stream_options = body.get("stream_options") or {}
    tools, tool_choice = _tools_and_choice(body)
    options = CallOptions(
        tools=tools,
        tool_choice=tool_choice,
        max_tokens=limit,
        temperature=number(body.get("temperature")),
        top_p=number(body.get("top_p")),
        stop=tuple(stop),
        response_format=response_format if isinstance(response_format, dict) else None,
        client_key=client_key,
    )
    return AgentRequest(
        wire="openai",
        model=model,
        messages=_messages(body),
        options=options,
        stream=bool(body.get("stream")),
        session=headers.get("x-session-id"),
        include_usage=bool(
            isinstance(stream_options, dict) and stream_options.get("include_usage")
        ),
    )


# -- responses --------------------------------------------------------------------------------


def _usage(usage: Usage) -> dict[str, int]:
    return {
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.input_tokens + usage.output_tokens,
    }


def whole_completion(
    model: str, parts: tuple[Part, ...], text: str, stop: str, usage: Usage
) -> dict:
    """A non-streamed chat completion."""
    calls = [
        {"id": p.id, "type": "function", "function": {"name": p.name, "arguments": p.arguments}}
        for p in parts
        if isinstance(p, ToolCall)
    ]
    message: dict[str, Any] = {"role": "assistant", "content": text or None, "refusal": None}
    if calls:
        message["tool_calls"] = calls
    elif message["content"] is None:
        message["content"] = ""
    return {
        "id": f"chatcmpl-{secrets.token_hex(12)}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": FINISH_REASONS.get(stop, "stop"),
            }
        ],
        "usage": _usage(usage),
    }


class StreamWriter:
    """Neutral stream events as chat-completion chunks (`data:` lines, `[DONE]` last)."""

    def __init__(self, model: str, include_usage: bool) -> None:
        self.model = model
        self.include_usage = include_usage
        self.id = f"chatcmpl-{secrets.token_hex(12)}"
        self.created = int(time.time())

    def _chunk(self, choices: list, usage: Any = None, with_usage: bool = False) -> bytes:
        payload: dict[str, Any] = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": choices,
        }
        if with_usage:
            payload["usage"] = usage
        return b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n"

    def _delta(self, delta: dict, finish: str | None = None) -> bytes:
        return self._chunk(
            [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]
        )

    def start(self) -> bytes:
        return self._delta({"role": "assistant", "content": ""})

    def feed(self, event: ContentEvent) -> bytes:
        """The SSE bytes for one neutral event (thinking is not part of this format)."""
        if isinstance(event, TextDelta):
            return self._delta({"content": event.text}) if event.text else b""
        if isinstance(event, ToolCallStart):
            call_id = event.id or f"call_{secrets.token_hex(12)}"
            call = {
                "index": event.index,
                "id": call_id,
                "type": "function",
                "function": {"name": event.name, "arguments": ""},
            }
            return self._delta({"tool_calls": [call]})
        if isinstance(event, ToolCallDelta):
            call = {"index": event.index, "function": {"arguments": event.arguments}}
            return self._delta({"tool_calls": [call]})
        return b""

    def finish(self, stop_reason: str, usage: Usage) -> bytes:
        out = self._delta({}, FINISH_REASONS.get(stop_reason, "stop"))
        if self.include_usage:
            out += self._chunk([], _usage(usage), with_usage=True)
        return out + b"data: [DONE]\n\n"

    def error(self, status: int, message: str) -> bytes:
        """A mid-stream error chunk; no `[DONE]` follows, so clients see a failed stream."""
        return b"data: " + json.dumps(error_body(status, message)).encode() + b"\n\n"
