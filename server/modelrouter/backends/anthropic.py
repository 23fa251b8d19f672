"""Anthropic Messages API: `/v1/messages`, `x-api-key`, top-level `system`, SSE events.

Tool calls stream as `tool_use` blocks with `input_json_delta` pieces; thinking blocks
stream with their signature. A request from an Anthropic client may be sent essentially as
the client wrote it (`CallOptions.passthrough`), so prompt caching, betas and thinking
keep working.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx

from modelrouter.backends.base import (
    BackendError,
    StopReason,
    StreamDone,
    StreamEvent,
    TextDelta,
    ThinkingDelta,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
)
from modelrouter.backends.http import Accumulator, HttpBackend, load_json, sse_events
from modelrouter.transcript import (
    CallOptions,
    Message,
    anthropic_tool_choice,
    anthropic_tools,
    to_anthropic,
)

API_VERSION = "2023-06-01"

# Mid-stream `error` event types and the error kind they mean for fallback and cooldown.
_ERROR_KINDS = {"overloaded_error": "overloaded", "rate_limit_error": "rate_limit"}
_STOP_REASONS: dict[str, StopReason] = {
    "end_turn": "end_turn",
    "max_tokens": "max_tokens",
    "tool_use": "tool_use",
    "stop_sequence": "stop_sequence",
    "refusal": "refusal",
    "pause_turn": "end_turn",
}
# Client headers a passthrough request keeps (features the client asked for).
PASSTHROUGH_HEADERS = ("anthropic-beta", "anthropic-version")


class AnthropicBackend(HttpBackend):
    """Claude models over the Messages API."""

    default_base_url = "https://api.anthropic.com"

    def request(
        self, messages: list[Message], key: str | None, options: CallOptions
    ) -> tuple[str, dict, dict]:
        cfg = self.config
        headers = {"anthropic-version": API_VERSION, "accept": "text/event-stream"}
        if options.passthrough is not None:
            body = dict(options.passthrough)
            body["model"] = cfg.model
            body["stream"] = True
            if body.get("max_tokens", 0) > cfg.max_output_tokens:
                body["max_tokens"] = cfg.max_output_tokens
            headers.update(
                {k: v for k, v in options.passthrough_headers.items() if k in PASSTHROUGH_HEADERS}
            )
        else:
            body = self._body(messages, options)
        if key:
            headers["x-api-key"] = key
        return f"{self.base_url}/v1/messages", headers, body

    def _body(self, messages: list[Message], options: CallOptions) -> dict:
        cfg = self.config
        system, turns = to_anthropic(messages)
        body: dict = {"model": cfg.model, "messages": turns, "stream": True}
        body.update(self.sampling(options, limit="max_tokens", stop="stop_sequences"))
        if system:
            body["system"] = system
        if options.tools:
            body["tools"] = anthropic_tools(options.tools)
            if options.tool_choice is not None:
                body["tool_choice"] = anthropic_tool_choice(options.tool_choice)
        if options.thinking is not None:
            body["thinking"] = options.thinking
        return body

    async def parse(self, response: httpx.Response, acc: Accumulator) -> AsyncIterator[StreamEvent]:
        name = self.config.name
        model = self.config.model
        usage_in = usage_out = None
        stop: StopReason = "end_turn"
        done: StreamDone | None = None
        tools: dict[int, int] = {}  # content block index -> tool call index
        async for sse in sse_events(response):
            # Read to the end of the body even after message_stop, so the connection goes
            # back to the pool instead of being closed.
            if done is not None or not sse.data.strip():
                continue
            data = load_json(sse.data, name)
            kind = data.get("type") if isinstance(data, dict) else None
            if kind == "message_start":
                message = data.get("message") or {}
                model = message.get("model") or model
                usage = message.get("usage") or {}
                usage_in = _input_tokens(usage, usage_in)
                usage_out = usage.get("output_tokens", usage_out)
            elif kind == "content_block_start":
                block = data.get("content_block") or {}
                if block.get("type") in ("tool_use", "server_tool_use"):
                    tools[data.get("index", 0)] = len(tools)
                    yield ToolCallStart(len(tools) - 1, block["id"], block["name"])
                elif block.get("type") == "redacted_thinking":
                    yield ThinkingDelta(redacted=block.get("data", ""))
                elif block.get("type") == "text" and block.get("text"):
                    acc.add(block["text"])
                    yield TextDelta(block["text"])
            elif kind == "content_block_delta":
                delta = data.get("delta") or {}
                dtype = delta.get("type")
                if dtype == "text_delta" and delta.get("text"):
                    acc.add(delta["text"])
                    yield TextDelta(delta["text"])
                elif dtype == "input_json_delta" and delta.get("partial_json"):
                    index = tools.get(data.get("index", 0))
                    if index is None:
                        raise BackendError("stream", f"{name}: tool input for no tool call")
                    acc.add(delta["partial_json"])
                    yield ToolCallDelta(index, delta["partial_json"])
                elif dtype == "thinking_delta" and delta.get("thinking"):
                    acc.add(delta["thinking"])
                    yield ThinkingDelta(text=delta["thinking"])
                elif dtype == "signature_delta" and delta.get("signature"):
                    yield ThinkingDelta(signature=delta["signature"])
            elif kind == "content_block_stop":
                index = tools.get(data.get("index", 0))
                if index is not None:
                    yield ToolCallEnd(index)
            elif kind == "message_delta":
                usage = data.get("usage") or {}
                usage_in = _input_tokens(usage, usage_in)
                usage_out = usage.get("output_tokens", usage_out)
                reason = (data.get("delta") or {}).get("stop_reason")
                stop = _STOP_REASONS.get(reason or "end_turn", "end_turn")
            elif kind == "message_stop":
                done = StreamDone(acc.usage(usage_in, usage_out), model, stop_reason=stop)
            elif kind == "error":
                error = data.get("error") or {}
                error_type = error.get("type", "error")
                raise BackendError(
                    _ERROR_KINDS.get(error_type, "stream"),  # type: ignore[arg-type]
                    f"{name}: error event mid-stream: {error.get('message', '')} [{error_type}]",
                )
            elif kind is None:
                raise BackendError("stream", f"{name}: unexpected stream data: {sse.data[:80]!r}")
        if done is None:
            raise BackendError("stream", f"{name}: stream ended before message_stop")
        yield done

    def whole(self, data: Any, acc: Accumulator) -> list[StreamEvent]:
        """A non-streamed message."""
        if not isinstance(data, dict) or data.get("type") != "message":
            raise BackendError("stream", f"{self.config.name}: reply is not a message")
        events: list[StreamEvent] = []
        calls = 0
        for block in data.get("content") or ():
            kind = block.get("type")
            if kind == "text" and block.get("text"):
                acc.add(block["text"])
                events.append(TextDelta(block["text"]))
            elif kind == "tool_use":
                arguments = json.dumps(block.get("input") or {})
                acc.add(arguments)
                events += [
                    ToolCallStart(calls, block["id"], block["name"]),
                    ToolCallDelta(calls, arguments),
                    ToolCallEnd(calls),
                ]
                calls += 1
            elif kind == "thinking":
                events.append(ThinkingDelta(block.get("thinking", ""), block.get("signature", "")))
            elif kind == "redacted_thinking":
                events.append(ThinkingDelta(redacted=block.get("data", "")))
        usage = data.get("usage") or {}
        done = StreamDone(
            acc.usage(_input_tokens(usage, None), usage.get("output_tokens")),
            data.get("model") or self.config.model,
            stop_reason=_STOP_REASONS.get(data.get("stop_reason") or "end_turn", "end_turn"),
        )
        return [*events, done]


def _input_tokens(usage: dict, current: int | None) -> int | None:
    """Input tokens including prompt-cache reads and writes, which are billed input too."""
    if usage.get("input_tokens") is None:
        return current
    return (
        usage["input_tokens"]
        + (usage.get("cache_creation_input_tokens") or 0)
        + (usage.get("cache_read_input_tokens") or 0)
    )
