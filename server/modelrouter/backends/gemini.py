"""Google Gemini: `streamGenerateContent?alt=sse`, roles user/model, `systemInstruction`.

The key goes in the `x-goog-api-key` header, never in the URL, so it cannot leak through
logged URLs or error messages.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

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
from modelrouter.backends.http import Accumulator, HttpBackend, load_json, sse_events
from modelrouter.transcript import (
    CallOptions,
    Message,
    gemini_tool_config,
    gemini_tools,
    to_gemini,
)

_COMPLETE = {"STOP", "MAX_TOKENS"}


class GeminiBackend(HttpBackend):
    """Gemini models over the Generative Language API."""

    default_base_url = "https://generativelanguage.googleapis.com"

    def request(
        self, messages: list[Message], key: str | None, options: CallOptions
    ) -> tuple[str, dict, dict]:
        cfg = self.config
        system, contents = to_gemini(messages)
        generation = self.sampling(
            options, limit="maxOutputTokens", top_p="topP", stop="stopSequences"
        )
        if "stopSequences" in generation:
            generation["stopSequences"] = generation["stopSequences"][:5]  # Gemini takes 5 at most
        body: dict = {"contents": contents, "generationConfig": generation}
        if options.tools:
            body["tools"] = gemini_tools(options.tools)
            if options.tool_choice is not None:
                body["toolConfig"] = gemini_tool_config(options.tool_choice)
        if system:
            body["systemInstruction"] = {"parts": [{"text": system}]}
        headers = {"accept": "text/event-stream"}
        if key:
            headers["x-goog-api-key"] = key
        model = cfg.model.removeprefix("models/")
        url = f"{self.base_url}/v1beta/models/{quote(model)}:streamGenerateContent?alt=sse"
        return url, headers, body

    async def parse(self, response: httpx.Response, acc: Accumulator) -> AsyncIterator[StreamEvent]:
        name = self.config.name
        model = self.config.model
        usage_in = usage_out = None
        finish: str | None = None
        calls = 0
        async for sse in sse_events(response):
            if not sse.data.strip():
                continue
            chunk = load_json(sse.data, name)
            if not isinstance(chunk, dict):
                raise BackendError("stream", f"{name}: unexpected stream data: {sse.data[:80]!r}")
            if chunk.get("error"):
                error = chunk["error"]
                message = error.get("message") if isinstance(error, dict) else str(error)
                raise BackendError("stream", f"{name}: error mid-stream: {message}")
            blocked = (chunk.get("promptFeedback") or {}).get("blockReason")
            if blocked:
                raise BackendError("stream", f"{name}: prompt blocked ({blocked})")
            model = chunk.get("modelVersion") or model
            usage = chunk.get("usageMetadata") or {}
            usage_in = usage.get("promptTokenCount", usage_in)
            if "candidatesTokenCount" in usage or "thoughtsTokenCount" in usage:
                usage_out = (usage.get("candidatesTokenCount") or 0) + (
                    usage.get("thoughtsTokenCount") or 0
                )
            for candidate in (chunk.get("candidates") or [])[:1]:
                for part in (candidate.get("content") or {}).get("parts") or ():
                    text = part.get("text")
                    if text and not part.get("thought"):
                        acc.add(text)
                        yield TextDelta(text)
                    elif part.get("functionCall"):
                        for event in _call_events(part["functionCall"], calls, acc):
                            yield event
                        calls += 1
                finish = candidate.get("finishReason") or finish
        if finish is None:
            raise BackendError("stream", f"{name}: stream ended before the answer was complete")
        if finish not in _COMPLETE:
            raise BackendError("stream", f"{name}: answer stopped early ({finish})")
        yield _done(acc.usage(usage_in, usage_out), model, finish, calls)

    def whole(self, data: Any, acc: Accumulator) -> list[StreamEvent]:
        """A non-streamed reply: one response object, or a JSON array of them."""
        name = self.config.name
        finish = None
        usage_in = usage_out = None
        model = self.config.model
        events: list[StreamEvent] = []
        for chunk in data if isinstance(data, list) else [data]:
            model = chunk.get("modelVersion") or model
            usage = chunk.get("usageMetadata") or {}
            usage_in = usage.get("promptTokenCount", usage_in)
            usage_out = usage.get("candidatesTokenCount", usage_out)
            for candidate in (chunk.get("candidates") or [])[:1]:
                for part in (candidate.get("content") or {}).get("parts") or ():
                    if part.get("text") and not part.get("thought"):
                        acc.add(part["text"])
                        events.append(TextDelta(part["text"]))
                    elif part.get("functionCall"):
                        calls = sum(isinstance(e, ToolCallStart) for e in events)
                        events += _call_events(part["functionCall"], calls, acc)
                finish = candidate.get("finishReason") or finish
        if finish not in _COMPLETE:
            raise BackendError("stream", f"{name}: answer stopped early ({finish})")
        calls = sum(isinstance(e, ToolCallStart) for e in events)
        return [*events, _done(acc.usage(usage_in, usage_out), model, finish or "STOP", calls)]


def _call_events(
    call: dict, index: int, acc: Accumulator
) -> list[ToolCallStart | ToolCallDelta | ToolCallEnd]:
    """A Gemini function call arrives whole: start, all its arguments, end."""
    arguments = json.dumps(call.get("args") or {})
    acc.add(arguments)
    call_id = call.get("id") or f"call_{secrets.token_hex(8)}"
    return [
        ToolCallStart(index, call_id, call["name"]),
        ToolCallDelta(index, arguments),
        ToolCallEnd(index),
    ]


def _done(usage, model: str, finish: str, calls: int) -> StreamDone:
    stop = "max_tokens" if finish == "MAX_TOKENS" else "tool_use" if calls else "end_turn"
    return StreamDone(usage, model, stop_reason=stop)
