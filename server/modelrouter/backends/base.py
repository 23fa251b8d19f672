"""What every backend adapter speaks: neutral messages in, text chunks and usage out.

Adapters know nothing of routing or LSP. They raise `BackendError` with a `kind` the
dispatcher uses to decide between falling back, cooling down and giving up.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Literal, Protocol

from modelrouter.config import BackendConfig

# Adapters raise it; it is part of their contract, so it is importable from here too.
from modelrouter.errors import BackendError as BackendError

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


class Backend(Protocol):
    """A model endpoint."""

    config: BackendConfig

    def stream(self, messages: list[Message]) -> AsyncIterator[StreamEvent]:
        """Stream the answer to `messages` (already translated-ready and trimmed).

        Yields `TextDelta`s then exactly one `StreamDone`. Raises `BackendError`.
        Closing the iterator (or cancelling the task) must stop the call at once.
        """
        ...
