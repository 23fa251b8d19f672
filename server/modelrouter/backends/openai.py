"""OpenAI-compatible chat completions: OpenAI, DeepSeek, OpenRouter, LiteLLM, vLLM, llama.cpp.

`base_url` includes the API version (`https://api.openai.com/v1`); the key is optional so
local servers work without one. Streams SSE `data:` chunks ending in `[DONE]`, with
`stream_options.include_usage` so the last chunk carries the token counts.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import httpx

from modelrouter.backends.base import BackendError, Message, StreamDone, StreamEvent, TextDelta
from modelrouter.backends.http import Accumulator, HttpBackend, load_json, sse_events
from modelrouter.transcript import to_openai


class OpenAIBackend(HttpBackend):
    """Any server speaking OpenAI's `/chat/completions`."""

    default_base_url = "https://api.openai.com/v1"

    def request(self, messages: list[Message], key: str | None) -> tuple[str, dict, dict]:
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
        body[limit_field] = cfg.max_output_tokens
        if cfg.temperature is not None:
            body["temperature"] = cfg.temperature
        headers = {"accept": "text/event-stream"}
        if key:
            headers["authorization"] = f"Bearer {key}"
        return f"{self.base_url}/chat/completions", headers, body

    async def parse(self, response: httpx.Response, acc: Accumulator) -> AsyncIterator[StreamEvent]:
        name = self.config.name
        model = self.config.model
        finished = False
        usage_in = usage_out = None
        complete = False
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
                text = (choice.get("delta") or {}).get("content")
                if text:
                    acc.add(text)
                    yield TextDelta(text)
                if choice.get("finish_reason"):
                    finished = True
        # Some servers close without `[DONE]`; the answer is whole once a choice finished.
        if not (complete or finished):
            raise BackendError("stream", f"{name}: stream ended before the answer was complete")
        yield StreamDone(acc.usage(usage_in, usage_out), model)

    def whole(self, data: Any, acc: Accumulator) -> list[StreamEvent]:
        """A non-streamed chat completion."""
        if not isinstance(data, dict) or not data.get("choices"):
            raise BackendError("stream", f"{self.config.name}: reply without an answer")
        text = (data["choices"][0].get("message") or {}).get("content") or ""
        acc.add(text)
        usage = data.get("usage") or {}
        done = StreamDone(
            acc.usage(usage.get("prompt_tokens"), usage.get("completion_tokens")),
            data.get("model") or self.config.model,
        )
        return [TextDelta(text), done] if text else [done]
