"""Ollama's `/api/chat`: newline-delimited JSON, one object per chunk, `done: true` last.

Tool calls arrive whole in a chunk's `message.tool_calls`, arguments as a JSON object.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator
from typing import Any

import httpx

from modelrouter.backends.base import (
    BackendError,
    StreamDone,
    StreamEvent,
    TextDelta,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
)
from modelrouter.backends.http import Accumulator, HttpBackend, load_json
from modelrouter.transcript import CallOptions, Message, openai_tools, to_ollama


class OllamaBackend(HttpBackend):
    """A model served by Ollama (local or remote)."""

    default_base_url = "http://127.0.0.1:11434"

    def request(
        self, messages: list[Message], key: str | None, options: CallOptions
    ) -> tuple[str, dict, dict]:
        cfg = self.config
        settings: dict = {"num_ctx": cfg.context_window}
        settings.update(self.sampling(options, limit="num_predict"))
        body: dict = {
            "model": cfg.model,
            "messages": to_ollama(messages),
            "stream": True,
            "options": settings,
        }
        if options.tools and not (options.tool_choice and options.tool_choice.mode == "none"):
            body["tools"] = openai_tools(options.tools)
        if options.response_format and options.response_format.get("type") == "json_schema":
            body["format"] = (options.response_format.get("json_schema") or {}).get("schema")
        elif options.response_format and options.response_format.get("type") == "json_object":
            body["format"] = "json"
        headers = {"accept": "application/x-ndjson"}
        if key:  # Ollama behind an authenticating proxy, or ollama.com
            headers["authorization"] = f"Bearer {key}"
        return f"{self.base_url}/api/chat", headers, body

    async def parse(self, response: httpx.Response, acc: Accumulator) -> AsyncIterator[StreamEvent]:
        name = self.config.name
        done: StreamDone | None = None
        calls = 0
        async for line in response.aiter_lines():
            # Read to the end of the body after the last object so the connection is reused.
            if done is not None or not line.strip():
                continue
            chunk = load_json(line, name)
            if not isinstance(chunk, dict):
                raise BackendError("stream", f"{name}: unexpected stream data: {line[:80]!r}")
            if chunk.get("error"):
                raise BackendError("stream", f"{name}: error mid-stream: {chunk['error']}")
            message = chunk.get("message") or {}
            text = message.get("content")
            if text:
                acc.add(text)
                yield TextDelta(text)
            for call in message.get("tool_calls") or ():
                for event in _call_events(call, calls, acc):
                    yield event
                calls += 1
            if chunk.get("done"):
                usage = acc.usage(chunk.get("prompt_eval_count"), chunk.get("eval_count"))
                done = _done(chunk, usage, self.config.model, calls)
        if done is None:
            raise BackendError("stream", f"{name}: stream ended before the answer was complete")
        yield done

    def whole(self, data: Any, acc: Accumulator) -> list[StreamEvent]:
        """A non-streamed reply (one object with `done: true`)."""
        if not isinstance(data, dict) or not data.get("done"):
            raise BackendError("stream", f"{self.config.name}: reply is not a finished answer")
        message = data.get("message") or {}
        text = message.get("content") or ""
        acc.add(text)
        events: list[StreamEvent] = [TextDelta(text)] if text else []
        calls = message.get("tool_calls") or ()
        for index, call in enumerate(calls):
            events += _call_events(call, index, acc)
        usage = acc.usage(data.get("prompt_eval_count"), data.get("eval_count"))
        return [*events, _done(data, usage, self.config.model, len(calls))]


def _call_events(
    call: dict, index: int, acc: Accumulator
) -> list[ToolCallStart | ToolCallDelta | ToolCallEnd]:
    """An Ollama tool call arrives whole: start, all its arguments, end."""
    function = call.get("function") or {}
    arguments = function.get("arguments")
    text = arguments if isinstance(arguments, str) else json.dumps(arguments or {})
    acc.add(text)
    call_id = call.get("id") or f"call_{secrets.token_hex(8)}"
    return [
        ToolCallStart(index, call_id, function["name"]),
        ToolCallDelta(index, text),
        ToolCallEnd(index),
    ]


def _done(chunk: dict, usage, model: str, calls: int) -> StreamDone:
    stop = "max_tokens" if chunk.get("done_reason") == "length" else "end_turn"
    if calls:
        stop = "tool_use"
    return StreamDone(usage, chunk.get("model") or model, stop_reason=stop)
