"""What the HTTP adapters share: one request/stream/error path over the shared client.

Each provider module supplies the request (URL, headers, JSON body) and a parser that turns
the response stream into content events and one `StreamDone`; this module maps every transport
or HTTP failure to a `BackendError` whose text never contains the API key.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import httpx
from httpx_sse import EventSource, ServerSentEvent, SSEError

from modelrouter.backends.base import BackendError, StreamDone, StreamEvent, TextDelta, Usage
from modelrouter.config import BackendConfig
from modelrouter.health import parse_retry_after
from modelrouter.tokens import estimate_tokens
from modelrouter.transcript import CallOptions, Message, tools_tokens, transcript_tokens

_ERROR_BODY_LIMIT = 64 * 1024
_ERROR_TEXT_LIMIT = 300
_RATE_LIMIT_PREFIXES = ("x-ratelimit-", "anthropic-ratelimit-", "retry-after")


class Accumulator:
    """Collects streamed text so usage can be estimated when the provider reports none."""

    def __init__(self, messages: list[Message], options: CallOptions | None = None) -> None:
        self.messages = messages
        self.options = options
        self.chars: list[str] = []

    def add(self, text: str) -> None:
        """Note a piece of streamed answer text."""
        self.chars.append(text)

    def usage(self, input_tokens: int | None, output_tokens: int | None) -> Usage:
        """Provider counts when given, else our estimate flagged as such."""
        if input_tokens is not None and output_tokens is not None:
            return Usage(int(input_tokens), int(output_tokens), estimated=False)
        estimated_in = transcript_tokens(self.messages)
        if self.options is not None:
            estimated_in += tools_tokens(self.options.tools)
        estimated_out = estimate_tokens("".join(self.chars))
        return Usage(
            int(input_tokens) if input_tokens is not None else estimated_in,
            int(output_tokens) if output_tokens is not None else estimated_out,
            estimated=True,
        )


class HttpBackend:
    """Base for adapters that POST JSON and read a streamed reply."""

    default_base_url = ""

    def __init__(self, config: BackendConfig, client: httpx.AsyncClient) -> None:
        self.config = config
        self.client = client

    @property
    def base_url(self) -> str:
        """The configured base URL, or the provider's public one; no trailing slash."""
        return (self.config.base_url or self.default_base_url).rstrip("/")

    def request(
        self, messages: list[Message], key: str | None, options: CallOptions
    ) -> tuple[str, dict, dict]:
        """(url, headers, JSON body) for a streamed call."""
        raise NotImplementedError

    def sampling(
        self,
        options: CallOptions,
        *,
        limit: str,
        top_p: str = "top_p",
        stop: str = "stop",
    ) -> dict[str, Any]:
        """The output limit and sampling settings under this wire's field names: the request's
        own values, else the backend's, the limit never above its `max_output_tokens`."""
        cfg = self.config
        out: dict[str, Any] = {
            limit: min(options.max_tokens or cfg.max_output_tokens, cfg.max_output_tokens)
        }
        temperature = options.temperature if options.temperature is not None else cfg.temperature
        if temperature is not None:
            out["temperature"] = temperature
        if options.top_p is not None:
            out[top_p] = options.top_p
        if options.stop:
            out[stop] = list(options.stop)
        return out

    def parse(self, response: httpx.Response, acc: Accumulator) -> AsyncIterator[StreamEvent]:
        """The provider's stream as events; raises `BackendError("stream")` on bad data."""
        raise NotImplementedError

    def whole(self, data: Any, acc: Accumulator) -> list[StreamEvent]:
        """Events from a non-streamed JSON reply (servers that ignore `stream: true`)."""
        raise BackendError("stream", f"{self.config.name}: expected a stream, got one JSON reply")

    def auth_hint(self) -> str:
        """What to check after an authentication error (the key's variable), or ""."""
        env = self.config.api_key_env
        return f" (check {env})" if env else ""

    async def stream(
        self, messages: list[Message], options: CallOptions | None = None
    ) -> AsyncIterator[StreamEvent]:
        """Stream the answer; see `backends.base.Backend.stream`."""
        options = options or CallOptions()
        key = self.config.api_key()
        if self.config.forward_client_key and options.client_key:
            key = options.client_key  # the client's own credential, used for this call only
        url, headers, body = self.request(messages, key, options)
        headers = {**headers, **self.config.headers}
        timeouts = self.config.timeouts
        timeout = httpx.Timeout(
            connect=timeouts.connect,
            read=timeouts.first_byte,
            write=timeouts.first_byte,
            pool=timeouts.connect,
        )
        secrets = [key] if key else []
        acc = Accumulator(messages, options)
        try:
            async with self.client.stream(
                "POST", url, headers=headers, json=body, timeout=timeout
            ) as response:
                if response.status_code >= 400:
                    raise await self._http_error(response, secrets)
                limits = {
                    k.lower(): v
                    for k, v in response.headers.items()
                    if k.lower().startswith(_RATE_LIMIT_PREFIXES)
                }
                if _is_json(response):
                    raw = await response.aread()
                    data = load_json(raw.decode("utf-8", "replace"), self.config.name)
                    events: AsyncIterator[StreamEvent] = _aiter(self.whole, data, acc)
                else:
                    events = self.parse(response, acc)
                try:
                    async for event in events:
                        if isinstance(event, StreamDone):
                            event = replace(event, headers=limits)
                        elif isinstance(event, TextDelta) and not isinstance(event.text, str):
                            raise TypeError("text is not a string")
                        yield event
                except (AttributeError, TypeError, KeyError, IndexError, ValueError) as exc:
                    # Well-formed JSON of the wrong shape (a list where an object belongs,
                    # a number for text): a broken stream, not a crash.
                    raise BackendError(
                        "stream",
                        f"{self.config.name}: unexpected data in the stream ({exc})",
                    ) from None
        except BackendError as exc:
            exc.args = (scrub(str(exc), secrets),)
            raise
        except httpx.ConnectTimeout:
            raise BackendError(
                "timeout", f"{self.config.name}: connect timed out after {timeouts.connect:g} s"
            ) from None
        except httpx.ConnectError as exc:
            raise BackendError(
                "connect", f"{self.config.name}: cannot connect to {self.base_url} ({_why(exc)})"
            ) from None
        except httpx.TimeoutException:
            raise BackendError(
                "timeout",
                f"{self.config.name}: no data for {timeouts.first_byte:g} s",
            ) from None
        except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
            raise BackendError(
                "stream",
                f"{self.config.name}: connection broke mid-answer ({scrub(_why(exc), secrets)})",
            ) from None
        except SSEError as exc:
            raise BackendError(
                "stream", f"{self.config.name}: not an event stream ({exc})"
            ) from None
        except httpx.HTTPError as exc:
            raise BackendError(
                "connect", f"{self.config.name}: {scrub(_why(exc), secrets)}"
            ) from None

    async def _http_error(self, response: httpx.Response, secrets: list[str]) -> BackendError:
        raw = b""
        async for chunk in response.aiter_bytes():
            raw += chunk
            if len(raw) >= _ERROR_BODY_LIMIT:
                break
        status = response.status_code
        detail = scrub(_error_detail(raw), secrets)
        headers = {k.lower(): v for k, v in response.headers.items()}
        name = self.config.name
        if status == 429:
            retry = parse_retry_after(headers)
            wait = f", retry after {retry:g} s" if retry is not None else ""
            return BackendError(
                "rate_limit",
                f"{name}: HTTP 429 rate limited{wait}: {detail}",
                status=status,
                retry_after=retry,
                headers=headers,
            )
        if status in (401, 403):
            return BackendError(
                "auth",
                f"{name}: HTTP {status} {'unauthorized' if status == 401 else 'forbidden'}"
                f"{self.auth_hint()}: {detail}",
                status=status,
            )
        if status == 408:
            return BackendError(
                "timeout", f"{name}: HTTP 408 request timeout: {detail}", status=status
            )
        if status >= 500:
            label = "overloaded" if status == 529 else "server error"
            return BackendError(
                "overloaded",
                f"{name}: HTTP {status} {label}: {detail}",
                status=status,
                retry_after=parse_retry_after(headers),
            )
        return BackendError("bad_request", f"{name}: HTTP {status}: {detail}", status=status)


def _is_json(response: httpx.Response) -> bool:
    content_type = response.headers.get("content-type", "").partition(";")[0].strip()
    return content_type == "application/json"


async def _aiter(whole: Any, data: Any, acc: Accumulator) -> AsyncIterator[StreamEvent]:
    for event in whole(data, acc):  # inside the generator: shape errors surface while iterating
        yield event


def scrub(text: str, secrets: list[str]) -> str:
    """`text` with every secret replaced by a placeholder."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[key hidden]")
    return text


def _why(exc: Exception) -> str:
    text = str(exc)
    return text or type(exc).__name__


def _error_detail(raw: bytes) -> str:
    """The provider's own error message from a JSON error body, else the body's start."""
    text = raw.decode("utf-8", "replace").strip()
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    message = None
    if isinstance(data, dict):
        error = data.get("error", data)
        if isinstance(error, dict):
            message = error.get("message") or error.get("status") or error.get("type")
            kind = error.get("type") or error.get("status")
            if message and kind and kind != message:
                message = f"{message} [{kind}]"
        elif isinstance(error, str):
            message = error
    text = str(message) if message else (text or "(empty body)")
    text = " ".join(text.split())
    return text[:_ERROR_TEXT_LIMIT] + ("…" if len(text) > _ERROR_TEXT_LIMIT else "")


def load_json(data: str, backend: str) -> Any:
    """Parse one JSON message of a stream; garbage is a stream error."""
    try:
        return json.loads(data)
    except ValueError:
        shown = data[:80]
        raise BackendError(
            "stream", f"{backend}: malformed data in the stream: {shown!r}"
        ) from None


async def sse_events(response: httpx.Response) -> AsyncIterator[ServerSentEvent]:
    """Server-sent events of `response`."""
    async for event in EventSource(response).aiter_sse():
        yield event
