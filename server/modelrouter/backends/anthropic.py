"""Anthropic Messages API: `/v1/messages`, `x-api-key`, top-level `system`, SSE events."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx

from modelrouter.backends.base import BackendError, Message, StreamDone, StreamEvent, TextDelta
from modelrouter.backends.http import Accumulator, HttpBackend, load_json, sse_events
from modelrouter.transcript import to_anthropic

API_VERSION = "2023-06-01"

# Mid-stream `error` event types and the error kind they mean for fallback and cooldown.
_ERROR_KINDS = {"overloaded_error": "overloaded", "rate_limit_error": "rate_limit"}


class AnthropicBackend(HttpBackend):
    """Claude models over the Messages API."""

    default_base_url = "https://api.anthropic.com"

    def request(self, messages: list[Message], key: str | None) -> tuple[str, dict, dict]:
        cfg = self.config
        system, turns = to_anthropic(messages)
        body: dict = {
            "model": cfg.model,
            "max_tokens": cfg.max_output_tokens,
            "messages": turns,
            "stream": True,
        }
        if system:
            body["system"] = system
        if cfg.temperature is not None:
            body["temperature"] = cfg.temperature
        headers = {"anthropic-version": API_VERSION, "accept": "text/event-stream"}
        if key:
            headers["x-api-key"] = key
        return f"{self.base_url}/v1/messages", headers, body

    async def parse(self, response: httpx.Response, acc: Accumulator) -> AsyncIterator[StreamEvent]:
        name = self.config.name
        model = self.config.model
        usage_in = usage_out = None
        done: StreamDone | None = None
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
            elif kind == "content_block_delta":
                delta = data.get("delta") or {}
                if delta.get("type") == "text_delta" and delta.get("text"):
                    acc.add(delta["text"])
                    yield TextDelta(delta["text"])
            elif kind == "message_delta":
                usage = data.get("usage") or {}
                usage_in = _input_tokens(usage, usage_in)
                usage_out = usage.get("output_tokens", usage_out)
            elif kind == "message_stop":
                done = StreamDone(acc.usage(usage_in, usage_out), model)
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
        blocks = data.get("content") or ()
        text = "".join(b.get("text", "") for b in blocks if b.get("type") == "text")
        acc.add(text)
        usage = data.get("usage") or {}
        done = StreamDone(
            acc.usage(_input_tokens(usage, None), usage.get("output_tokens")),
            data.get("model") or self.config.model,
        )
        return [TextDelta(text), done] if text else [done]


def _input_tokens(usage: dict, current: int | None) -> int | None:
    """Input tokens including prompt-cache reads and writes, which are billed input too."""
    if usage.get("input_tokens") is None:
        return current
    return (
        usage["input_tokens"]
        + (usage.get("cache_creation_input_tokens") or 0)
        + (usage.get("cache_read_input_tokens") or 0)
    )
