"""What every backend adapter speaks: neutral messages in, neutral stream events out.

Events are text deltas, tool calls (start, argument pieces, end), thinking, and one
`StreamDone` with usage and the neutral stop reason.

Adapters know nothing of routing or LSP. They raise `BackendError` with a `kind` the
dispatcher uses to decide between falling back, cooling down and giving up.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Literal, Protocol

from modelrouter.config import BackendConfig
from modelrouter.transcript import CallOptions, Message

__all__ = ["CallOptions", "Message"]  # the neutral transcript, re-exported for adapters

# Adapters raise it; it is part of their contract, so it is importable from here too.
from modelrouter.errors import BackendError as BackendError


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
class ToolCallStart:
    """The model starts a tool call; `index` numbers the calls of one answer from 0."""

    index: int
    id: str
    name: str


@dataclass(frozen=True)
class ToolCallDelta:
    """A piece of the JSON text of tool call `index`'s arguments."""

    index: int
    arguments: str


@dataclass(frozen=True)
class ToolCallEnd:
    """Tool call `index` is complete."""

    index: int


@dataclass(frozen=True)
class ThinkingDelta:
    """Streamed reasoning (Anthropic); `signature` arrives once, at the block's end."""

    text: str = ""
    signature: str = ""
    redacted: str = ""


# Why the answer ended, in neutral terms (Anthropic's names).
StopReason = Literal["end_turn", "max_tokens", "tool_use", "stop_sequence", "refusal"]


@dataclass(frozen=True)
class StreamDone:
    """The end of a successful stream."""

    usage: Usage
    model: str  # the model name that answered, as the provider reports it
    headers: dict[str, str] = field(default_factory=dict)  # rate-limit headers, lower-cased
    stop_reason: StopReason = "end_turn"


ContentEvent = TextDelta | ToolCallStart | ToolCallDelta | ToolCallEnd | ThinkingDelta
StreamEvent = ContentEvent | StreamDone


class Backend(Protocol):
    """A model endpoint."""

    config: BackendConfig

    def stream(
        self, messages: list[Message], options: CallOptions | None = None
    ) -> AsyncIterator[StreamEvent]:
        """Stream the answer to `messages` (already trimmed) with per-call `options`.

        Yields content events then exactly one `StreamDone`. Raises `BackendError`.
        Closing the iterator (or cancelling the task) must stop the call at once.
        """
        ...
