"""Ollama's `/api/chat`: newline-delimited JSON, one object per chunk, `done: true` last."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx

from modelrouter.backends.base import BackendError, Message, StreamDone, StreamEvent, TextDelta
from modelrouter.backends.http import Accumulator, HttpBackend, load_json
from modelrouter.transcript import to_openai


class OllamaBackend(HttpBackend):
    """A model served by Ollama (local or remote)."""

    default_base_url = "http://127.0.0.1:11434"

    def request(self, messages: list[Message], key: str | None) -> tuple[str, dict, dict]:
        cfg = self.config
        options: dict = {"num_ctx": cfg.context_window, "num_predict": cfg.max_output_tokens}
        if cfg.temperature is not None:
            options["temperature"] = cfg.temperature
        body = {
            "model": cfg.model,
            "messages": to_openai(messages),
            "stream": True,
            "options": options,
        }
        headers = {"accept": "application/x-ndjson"}
        if key:  # Ollama behind an authenticating proxy, or ollama.com
            headers["authorization"] = f"Bearer {key}"
        return f"{self.base_url}/api/chat", headers, body

    async def parse(self, response: httpx.Response, acc: Accumulator) -> AsyncIterator[StreamEvent]:
        name = self.config.name
        done: StreamDone | None = None
        async for line in response.aiter_lines():
            # Read to the end of the body after the last object so the connection is reused.
            if done is not None or not line.strip():
                continue
            chunk = load_json(line, name)
            if not isinstance(chunk, dict):
                raise BackendError("stream", f"{name}: unexpected stream data: {line[:80]!r}")
            if chunk.get("error"):
                raise BackendError("stream", f"{name}: error mid-stream: {chunk['error']}")
            text = (chunk.get("message") or {}).get("content")
            if text:
                acc.add(text)
                yield TextDelta(text)
            if chunk.get("done"):
                usage = acc.usage(chunk.get("prompt_eval_count"), chunk.get("eval_count"))
                done = StreamDone(usage, chunk.get("model") or self.config.model)
        if done is None:
            raise BackendError("stream", f"{name}: stream ended before the answer was complete")
        yield done

    def whole(self, data: Any, acc: Accumulator) -> list[StreamEvent]:
        """A non-streamed reply (one object with `done: true`)."""
        if not isinstance(data, dict) or not data.get("done"):
            raise BackendError("stream", f"{self.config.name}: reply is not a finished answer")
        text = (data.get("message") or {}).get("content") or ""
        acc.add(text)
        usage = acc.usage(data.get("prompt_eval_count"), data.get("eval_count"))
        done = StreamDone(usage, data.get("model") or self.config.model)
        return [TextDelta(text), done] if text else [done]
