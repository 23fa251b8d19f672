"""OpenAI-compatible chat completions: OpenAI, DeepSeek, OpenRouter, LiteLLM, vLLM, llama.cpp.

`base_url` includes the API version (`https://api.openai.com/v1`); the key is optional so
local servers work without one. Streams SSE `data:` chunks ending in `[DONE]`, with
`stream_options.include_usage` so the last chunk carries the token counts.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import httpx

from modelrouter.backends.base import (
    BackendError,
    StopReason,
    StreamDone,
    StreamEvent,
    TextDelta,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
)
from modelrouter.backends.http import Accumulator, HttpBackend, load_json, sse_events
from modelrouter.transcript import (
    CallOptions,
    Message,
    openai_tool_choice,
    openai_tools,
    to_openai,
)

STOP_REASONS: dict[str, StopReason] = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}


class OpenAIBackend(HttpBackend):
    """Any server speaking OpenAI's `/chat/completions`."""

    default_base_url = "https://api.openai.com/v1"

    def request(
        self, messages: list[Message], key: str | None, options: CallOptions
    ) -> tuple[str, dict, dict]:
        cfg = self.config
        body: dict = {
            "model": cfg.model,
            "messages": to_openai(messages),
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        # OpenAI's own API wants max_completion_tokens (reasoning models reject max_tokens);
        # compatible servers know max_tokens.
        host = urlsplit(self.base_url).hostname or ""
        limit_field = "max_completion_tokens" if host == "api.openai.com" else "max_tokens"
        body.update(self.sampling(options, limit=limit_field))
        if options.response_format is not None:
            body["response_format"] = options.response_format
        if options.tools:
            body["tools"] = openai_tools(options.tools)
            if options.tool_choice is not None:
                body["tool_choice"] = openai_tool_choice(options.tool_choice)
                if not options.tool_choice.parallel:
                    body["parallel_tool_calls"] = False
        headers = {"accept": "text/event-stream"}
        if key:
            headers["authorization"] = f"Bearer {key}"
        return f"{self.base_url}/chat/completions", headers, body

    async def parse(self, response: httpx.Response, acc: Accumulator) -> AsyncIterator[StreamEvent]:
        name = self.config.name
        model = self.config.model
        finished: str | None = None
        usage_in = usage_out = None
        complete = False
        calls: dict[int, int] = {}  # provider's tool-call index -> our index
        async for sse in sse_events(response):
            data = sse.data.strip()
            # Read to the end of the body even after [DONE], so the connection goes back to
            # the pool instead of being closed.
            if complete or not data:
                continue
            if data == "[DONE]":
                complete = True
                continue
            chunk = load_json(data, name)
            if not isinstance(chunk, dict):
                raise BackendError("stream", f"{name}: unexpected stream data: {data[:80]!r}")
            if chunk.get("error"):
                error = chunk["error"]
                message = error.get("message") if isinstance(error, dict) else str(error)
                raise BackendError("stream", f"{name}: error mid-stream: {message}")
            model = chunk.get("model") or model
            usage = chunk.get("usage")
            if isinstance(usage, dict):
                usage_in = usage.get("prompt_tokens")
                usage_out = usage.get("completion_tokens")
            for choice in chunk.get("choices") or ():
                delta = choice.get("delta") or {}
                text = delta.get("content")
                if text:
                    acc.add(text)
                    yield TextDelta(text)
                for call in delta.get("tool_calls") or ():
                    for event in _call_events(call, calls, acc):
                        yield event
                if choice.get("finish_reason"):
                    finished = choice["finish_reason"]
        # Some servers close without `[DONE]`; the answer is whole once a choice finished.
        if not (complete or finished):
            raise BackendError("stream", f"{name}: stream ended before the answer was complete")
        for index in calls.values():
            yield ToolCallEnd(index)
        stop = STOP_REASONS.get(finished or "stop", "end_turn")
        if calls and stop == "end_turn":
            stop = "tool_use"  # some servers say "stop" after tool calls
        yield StreamDone(acc.usage(usage_in, usage_out), model, stop_reason=stop)

    def whole(self, data: Any, acc: Accumulator) -> list[StreamEvent]:
        """A non-streamed chat completion."""
        if not isinstance(data, dict) or not data.get("choices"):
            raise BackendError("stream", f"{self.config.name}: reply without an answer")
        choice = data["choices"][0]
        message = choice.get("message") or {}
        text = message.get("content") or ""
        acc.add(text)
        events: list[StreamEvent] = [TextDelta(text)] if text else []
        for index, call in enumerate(message.get("tool_calls") or ()):
            function = call.get("function") or {}
            arguments = function.get("arguments") or ""
            acc.add(arguments)
            events += [ToolCallStart(index, call.get("id") or f"call_{index}", function["name"])]
            events += [ToolCallDelta(index, arguments)] if arguments else []
            events += [ToolCallEnd(index)]
        usage = data.get("usage") or {}
        stop = STOP_REASONS.get(choice.get("finish_reason") or "stop", "end_turn")
        if message.get("tool_calls") and stop == "end_turn":
            stop = "tool_use"
        done = StreamDone(
            acc.usage(usage.get("prompt_tokens"), usage.get("completion_tokens")),
            data.get("model") or self.config.model,
            stop_reason=stop,
        )
        return [*events, done]


def _call_events(
    call: dict, calls: dict[int, int], acc: Accumulator
) -> list[ToolCallStart | ToolCallDelta]:
    """Events for one streamed `tool_calls` delta; the first piece of a call names it."""
    position = call.get("index", len(calls))
    function = call.get("function") or {}
    events: list[ToolCallStart | ToolCallDelta] = []
    if position not in calls:
        if not function.get("name"):
            raise ValueError("a tool call started without a name")
        calls[position] = len(calls)
        call_id = call.get("id") or f"call_{secrets.token_hex(8)}"
        events.append(ToolCallStart(calls[position], call_id, function["name"]))
    arguments = function.get("arguments")
    if arguments:
        if not isinstance(arguments, str):
            raise TypeError("tool-call arguments are not a string")
        acc.add(arguments)
        events.append(ToolCallDelta(calls[position], arguments))
    return events
