"""What every backend adapter speaks: neutral messages in, text chunks and usage out.

Adapters know nothing of routing or LSP. They raise `BackendError` with a `kind` the
dispatcher uses to decide between falling back, cooling down and giving up.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Literal, Protocol

from modelrouter.config import BackendConfig

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True)
class Message:
    """One turn of the neutral transcript; assistant turns name the model that wrote them."""

    role: Role
    content: str
    model: str | None = None
    backend: str | None = None


@dataclass(frozen=True)
class Usage:
    """Token counts; `estimated` when the provider reported none and we counted ourselves."""

    input_tokens: int = 0
    output_tokens: int = 0
    estimated: bool = False


@dataclass(frozen=True)
class TextDelta:
    """A piece of streamed answer text."""

    text: str


@dataclass(frozen=True)
class StreamDone:
    """The end of a successful stream."""

    usage: Usage
    model: str  # the model name that answered, as the provider reports it
    headers: dict[str, str] = field(default_factory=dict)  # rate-limit headers, lower-cased


StreamEvent = TextDelta | StreamDone

ErrorKind = Literal[
    "connect",  # refused / DNS / unreachable
    "timeout",  # connect, first byte or total
    "rate_limit",  # 429
    "overloaded",  # 5xx, Anthropic 529
    "stream",  # malformed or cut stream, error event mid-stream
    "auth",  # 401 / 403: retrying cannot fix it
    "bad_request",  # 400 and other 4xx: retrying cannot fix it
    "process",  # cli: non-zero exit, output cap
    "unavailable",  # not configured / missing dependency
]

RETRYABLE_KINDS = frozenset({"connect", "timeout", "rate_limit", "overloaded", "stream", "process"})


class BackendError(Exception):
    """A failed call. The message never contains an API key."""

    def __init__(
        self,
        kind: ErrorKind,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.status = status
        self.retry_after = retry_after
        self.headers = headers or {}

    @property
    def falls_back(self) -> bool:
        """Whether the next backend in the chain should be tried."""
        return self.kind in RETRYABLE_KINDS


class Backend(Protocol):
    """A model endpoint."""

    config: BackendConfig

    def stream(self, messages: list[Message]) -> AsyncIterator[StreamEvent]:
        """Stream the answer to `messages` (already translated-ready and trimmed).

        Yields `TextDelta`s then exactly one `StreamDone`. Raises `BackendError`.
        Closing the iterator (or cancelling the task) must stop the call at once.
        """
        ...
