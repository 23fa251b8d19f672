"""The OpenAI Responses wire format on the proxy side: requests in, SSE or JSON out.

Accepts what Codex CLI and the `openai` SDK's `responses.create` send: `input` as a string or
items (`message` with `developer` / `system` / `user` / `assistant` roles and
`input_text` / `output_text` / `input_image` parts, `function_call`, `function_call_output`,
`reasoning`), `instructions`, function `tools`, `tool_choice`, `parallel_tool_calls`,
`max_output_tokens`, `text.format`. The proxy keeps no server-side conversations, so
`store: true`, `previous_response_id` and `conversation` are refused with a 400.

Reasoning items are dropped: their content is encrypted for OpenAI's own servers, and no
backend here reads it. Tools other than functions (`web_search`, `namespace`, `custom`…)
are hosted by OpenAI; no backend here runs them, so they are dropped (logged at debug).
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from modelrouter.backends.base import (
    ContentEvent,
    TextDelta,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
    Usage,
)
from modelrouter.proxy.openai_api import error_body as error_body
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
    Role,
    Text,
    Tool,
    ToolCall,
    ToolChoice,
    ToolResult,
)

log = logging.getLogger(__name__)

# Request fields the response object repeats back, as the client sent them.
_ECHOED = (
    "instructions",
    "max_output_tokens",
    "metadata",
    "parallel_tool_calls",
    "prompt_cache_key",
    "reasoning",
    "temperature",
    "text",
    "tool_choice",
    "top_p",
    "user",
)
# History items of tools OpenAI hosts: their results are already in the assistant's text.
_HOSTED_CALLS = frozenset(
    {"web_search_call", "file_search_call", "code_interpreter_call", "image_generation_call"}
)


def _image(part: dict, what: str) -> Image:
    url = part.get("image_url")
    if not isinstance(url, str) or not url:
        raise RequestError(f"{what}.image_url: required (file_id images are not supported)")
    if url.startswith("data:"):
        head, _, data = url.partition(",")
        return Image(head.removeprefix("data:").split(";", 1)[0] or "image/png", data=data)
    return Image(url=url)


def _content(content: Any, what: str) -> list[Text | Image]:
    """A message's or a function output's content: a string or a list of parts."""
    if isinstance(content, str):
        return [Text(content)]
    if not isinstance(content, list):
        raise RequestError(f"{what}: must be a string or a list of parts")
    parts: list[Text | Image] = []
    for j, part in enumerate(content):
        where = f"{what}[{j}]"
        if not isinstance(part, dict):
            raise RequestError(f"{where}: must be an object")
        kind = part.get("type")
        if kind in ("input_text", "output_text", "text"):
            parts.append(Text(string(part.get("text"), f"{where}.text")))
        elif kind == "refusal":
            parts.append(Text(string(part.get("refusal"), f"{where}.refusal")))
        elif kind == "input_image":
            parts.append(_image(part, where))
        else:
            raise RequestError(f"{where}: unsupported content part type {kind!r}")
    return parts


@dataclass
class _Transcript:
    """Input items folded into turns: consecutive assistant items (text, function calls) are
    one assistant turn, consecutive function outputs one user turn of results."""

    messages: list[Message] = field(default_factory=list)
    names: dict[str, str] = field(default_factory=dict)  # call id -> tool name

    def add(self, role: Role, parts: list[Part]) -> None:
        last = self.messages[-1] if self.messages else None
        if last is not None and last.role == role == "assistant":
            self.messages[-1] = Message.of(role, [*last.all_parts(), *parts])
        elif (
            last is not None
            and last.role == role == "user"
            and all(isinstance(p, ToolResult) for p in parts)
            and len(last.tool_results) == len(last.parts) > 0
        ):
            self.messages[-1] = Message.of(role, [*last.parts, *parts])
        else:
            self.messages.append(Message.of(role, parts))


def _item(item: Any, what: str, out: _Transcript) -> None:
    if not isinstance(item, dict):
        raise RequestError(f"{what}: must be an object")
    kind = item.get("type", "message")
    if not isinstance(kind, str):
        raise RequestError(f"{what}.type: must be a string")
    if kind == "message":
        role = item.get("role")
        parts = _content(item.get("content"), f"{what}.content")
        if role in ("system", "developer"):
            text = "\n\n".join(p.text for p in parts if isinstance(p, Text))
            out.messages.append(Message("system", text))
        elif role == "user" or role == "assistant":
            out.add(role, list(parts))
        else:
            raise RequestError(f"{what}.role: must be developer, system, user or assistant")
    elif kind == "function_call":
        call_id = string(item.get("call_id"), f"{what}.call_id")
        name = string(item.get("name"), f"{what}.name")
        out.names[call_id] = name
        arguments = string(item.get("arguments", "{}"), f"{what}.arguments")
        out.add("assistant", [ToolCall(call_id, name, arguments or "{}")])
    elif kind == "function_call_output":
        call_id = string(item.get("call_id"), f"{what}.call_id")
        output = tuple(_content(item.get("output"), f"{what}.output"))
        out.add("user", [ToolResult(call_id, output, name=out.names.get(call_id, ""))])
    elif kind == "reasoning" or kind in _HOSTED_CALLS:
        log.debug("responses: dropped a %s input item (no backend here reads it)", kind)
    else:
        raise RequestError(f"{what}: unsupported input item type {kind!r}")


def _messages(body: dict) -> list[Message]:
    out = _Transcript()
    instructions = body.get("instructions")
    if isinstance(instructions, str) and instructions:
        out.messages.append(Message("system", instructions))
    raw = body.get("input")
    if isinstance(raw, str):
        out.add("user", [Text(raw)])
    elif isinstance(raw, list):
        for i, item in enumerate(raw):
            _item(item, f"input[{i}]", out)
    else:
        raise RequestError("input: must be a string or a list of items")
    if not any(m.role != "system" for m in out.messages):
        raise RequestError("input: has no user or assistant item")
    return out.messages


def _tools(body: dict) -> tuple[Tool, ...]:
    raw = body.get("tools") or []
    if not isinstance(raw, list):
        raise RequestError("tools: must be a list")
    tools = []
    for i, t in enumerate(raw):
        if not isinstance(t, dict):
            raise RequestError(f"tools[{i}]: must be an object")
        if t.get("type") != "function":
            log.debug(
                "responses: dropped the hosted %r tool (no backend here runs it)", t.get("type")
            )
            continue
        schema = t.get("parameters") or {"type": "object", "properties": {}}
        if not isinstance(schema, dict):
            raise RequestError(f"tools[{i}].parameters: must be an object")
        name = string(t.get("name"), f"tools[{i}].name")
        tools.append(Tool(name, str(t.get("description") or ""), schema))
    return tuple(tools)


def _tools_and_choice(body: dict) -> tuple[tuple[Tool, ...], ToolChoice | None]:
    tools, value = _tools(body), body.get("tool_choice")
    if isinstance(value, dict) and value.get("type") == "allowed_tools":
        value, tools = allowed_tools(
            tools, value.get("mode"), value.get("tools"), lambda t: t.get("name")
        )
    return tools, _tool_choice(value, body.get("parallel_tool_calls"))


def _tool_choice(value: Any, parallel: Any) -> ToolChoice | None:
    function = isinstance(value, dict) and value.get("type") == "function"
    named = string(value.get("name"), "tool_choice.name") if function else None
    return openai_tool_choice(value, parallel, named)


def _response_format(text: Any) -> dict | None:
    """`text.format` in chat-completions' `response_format` shape (what backends take)."""
    fmt = text.get("format") if isinstance(text, dict) else None
    if not isinstance(fmt, dict) or fmt.get("type") in (None, "text"):
        return None
    if fmt.get("type") == "json_schema":
        schema = {k: fmt[k] for k in ("name", "schema", "strict", "description") if k in fmt}
        return {"type": "json_schema", "json_schema": schema}
    return {"type": str(fmt.get("type"))}


def parse_request(body: Any, headers: dict[str, str], client_key: str | None) -> AgentRequest:
    """The Responses API request `body` as an `AgentRequest`; raises `RequestError`."""
    model = model_of(body)
    for name in ("previous_response_id", "conversation"):
        if body.get(name):
            raise RequestError(
                f"{name}: not supported; the proxy keeps no conversations, send the whole input"
            )
    if body.get("store") is True:
        raise RequestError("store: must be false; the proxy keeps no responses")
    limit = output_limit(body.get("max_output_tokens"), "max_output_tokens")
    tools, tool_choice = _tools_and_choice(body)
    options = CallOptions(
        tools=tools,
        tool_choice=tool_choice,
        max_tokens=limit,
        temperature=number(body.get("temperature")),
        top_p=number(body.get("top_p")),
        response_format=_response_format(body.get("text")),
        client_key=client_key,
    )
    return AgentRequest(
        wire="responses",
        model=model,
        messages=_messages(body),
        options=options,
        stream=bool(body.get("stream")),
        session=headers.get("session-id") or headers.get("x-session-id"),
        echo={k: body[k] for k in _ECHOED if k in body}
        | {"tools": [t for t in body.get("tools") or () if isinstance(t, dict)]},
    )


# -- responses --------------------------------------------------------------------------------


def _usage(usage: Usage) -> dict[str, Any]:
    return {
        "input_tokens": usage.input_tokens,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": usage.output_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": usage.input_tokens + usage.output_tokens,
    }


def _item_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(16)}"


def _message_item(item_id: str, text: str, status: str) -> dict[str, Any]:
    content = [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}]
    return {
        "id": item_id,
        "type": "message",
        "status": status,
        "role": "assistant",
        "content": content if status == "completed" else [],
    }


def _call_item(item_id: str, call_id: str, name: str, arguments: str, status: str) -> dict:
    return {
        "id": item_id,
        "type": "function_call",
        "status": status,
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
    }


def _envelope(
    response_id: str, created: int, model: str, echo: dict[str, Any], status: str
) -> dict[str, Any]:
    """The response object around its output, repeating the request's settings."""
    return {
        "id": response_id,
        "object": "response",
        "created_at": created,
        "status": status,
        "error": None,
        "incomplete_details": None,
        "instructions": echo.get("instructions"),
        "max_output_tokens": echo.get("max_output_tokens"),
        "model": model,
        "output": [],
        "parallel_tool_calls": echo.get("parallel_tool_calls", True),
        "previous_response_id": None,
        "reasoning": echo.get("reasoning"),
        "store": False,
        "temperature": echo.get("temperature"),
        "text": echo.get("text") or {"format": {"type": "text"}},
        "tool_choice": echo.get("tool_choice", "auto"),
        "tools": echo.get("tools", []),
        "top_p": echo.get("top_p"),
        "truncation": "disabled",
        "usage": None,
        "user": echo.get("user"),
        "metadata": echo.get("metadata") or {},
    }


def _ended(payload: dict[str, Any], stop: str, usage: Usage) -> dict[str, Any]:
    """`payload` as a finished response: completed, or incomplete when the limit cut it."""
    if stop == "max_tokens":
        payload["status"] = "incomplete"
        payload["incomplete_details"] = {"reason": "max_output_tokens"}
    else:
        payload["status"] = "completed"
    payload["usage"] = _usage(usage)
    return payload


def whole_response(
    model: str, parts: tuple[Part, ...], text: str, stop: str, usage: Usage, echo: dict
) -> dict:
    """A non-streamed Responses API response."""
    output: list[dict[str, Any]] = []
    for p in parts or ((Text(text),) if text else ()):
        if isinstance(p, Text):
            output.append(_message_item(_item_id("msg"), p.text, "completed"))
        elif isinstance(p, ToolCall):
            output.append(_call_item(_item_id("fc"), p.id, p.name, p.arguments, "completed"))
    payload = _envelope(_item_id("resp"), int(time.time()), model, echo, "completed")
    payload["output"] = output
    return _ended(payload, stop, usage)


@dataclass
class _Open:
    """The output item being streamed: a message's text or a function call's arguments."""

    index: int
    item_id: str
    kind: str  # "message" or "function_call"
    text: str = ""
    call_id: str = ""
    name: str = ""


class StreamWriter:
    """Neutral stream events as Responses API server-sent events, items opened and closed,
    every event numbered by `sequence_number`."""

    def __init__(self, model: str, echo: dict[str, Any]) -> None:
        self.model = model
        self.echo = echo
        self.id = _item_id("resp")
        self.created = int(time.time())
        self._sequence = 0
        self._output: list[dict[str, Any]] = []  # finished items, in order
        self._open: _Open | None = None
        self._calls: dict[int, _Open] = {}  # neutral tool-call index -> its item

    def _event(self, kind: str, data: dict[str, Any]) -> bytes:
        payload = {"type": kind, "sequence_number": self._sequence, **data}
        self._sequence += 1
        return f"event: {kind}\ndata: {json.dumps(payload, separators=(',', ':'))}\n\n".encode()

    def _response(self, status: str) -> dict[str, Any]:
        payload = _envelope(self.id, self.created, self.model, self.echo, status)
        payload["output"] = list(self._output)
        return payload

    def start(self) -> bytes:
        return self._event(
            "response.created", {"response": self._response("in_progress")}
        ) + self._event("response.in_progress", {"response": self._response("in_progress")})

    def _close(self) -> bytes:
        item, self._open = self._open, None
        if item is None:
            return b""
        where = {"item_id": item.item_id, "output_index": item.index}
        if item.kind == "message":
            part = {"type": "output_text", "text": item.text, "annotations": [], "logprobs": []}
            done = _message_item(item.item_id, item.text, "completed")
            out = self._event(
                "response.output_text.done",
                {**where, "content_index": 0, "text": item.text, "logprobs": []},
            )
            out += self._event(
                "response.content_part.done", {**where, "content_index": 0, "part": part}
            )
        else:
            done = _call_item(item.item_id, item.call_id, item.name, item.text, "completed")
            out = self._event(
                "response.function_call_arguments.done", {**where, "arguments": item.text}
            )
        self._output.append(done)
        return out + self._event(
            "response.output_item.done", {"output_index": item.index, "item": done}
        )

    def _begin(self, item: _Open, shown: dict[str, Any]) -> bytes:
        out = self._close()
        self._open = item
        return out + self._event(
            "response.output_item.added", {"output_index": item.index, "item": shown}
        )

    def feed(self, event: ContentEvent) -> bytes:
        """The SSE bytes for one neutral event (reasoning is not passed on)."""
        if isinstance(event, TextDelta):
            if not event.text:
                return b""
            out = b""
            if self._open is None or self._open.kind != "message":
                item = _Open(
                    len(self._output) + (self._open is not None), _item_id("msg"), "message"
                )
                out = self._begin(item, _message_item(item.item_id, "", "in_progress"))
                part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
                out += self._event(
                    "response.content_part.added",
                    {
                        "item_id": item.item_id,
                        "output_index": item.index,
                        "content_index": 0,
                        "part": part,
                    },
                )
            item = self._open
            assert item is not None
            item.text += event.text
            return out + self._event(
                "response.output_text.delta",
                {
                    "item_id": item.item_id,
                    "output_index": item.index,
                    "content_index": 0,
                    "delta": event.text,
                    "logprobs": [],
                },
            )
        if isinstance(event, ToolCallStart):
            index = len(self._output) + (self._open is not None)
            call_id = event.id or f"call_{secrets.token_hex(12)}"
            item = _Open(index, _item_id("fc"), "function_call", call_id=call_id, name=event.name)
            self._calls[event.index] = item
            return self._begin(
                item, _call_item(item.item_id, call_id, event.name, "", "in_progress")
            )
        if isinstance(event, ToolCallDelta):
            item = self._calls.get(event.index)
            if item is None or item is not self._open or not event.arguments:
                return b""
            item.text += event.arguments
            return self._event(
                "response.function_call_arguments.delta",
                {"item_id": item.item_id, "output_index": item.index, "delta": event.arguments},
            )
        if isinstance(event, ToolCallEnd):
            return self._close() if self._calls.get(event.index) is self._open else b""
        return b""

    def finish(self, stop_reason: str, usage: Usage) -> bytes:
        """Close the open item and end the response (`response.incomplete` when the output
        limit cut it, else `response.completed`)."""
        out = self._close()
        payload = _ended(self._response("completed"), stop_reason, usage)
        kind = "response.incomplete" if payload["status"] == "incomplete" else "response.completed"
        return out + self._event(kind, {"response": payload})

    def error(self, status: int, message: str) -> bytes:
        """A failure after bytes were sent: an `error` event, then `response.failed`."""
        code = "rate_limit_exceeded" if status == 429 else "server_error"
        out = self._event("error", {"code": code, "message": message, "param": None})
        payload = self._response("failed")
        payload["error"] = {"code": code, "message": message}
        return out + self._event("response.failed", {"response": payload})
