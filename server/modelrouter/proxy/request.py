"""An agent's request in neutral form, whatever wire format it arrived in."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from modelrouter.transcript import CallOptions, Message

Wire = Literal["anthropic", "openai", "responses"]


class RequestError(ValueError):
    """The client's request is malformed; the message says what is wrong (HTTP 400)."""


@dataclass
class AgentRequest:
    """What the client asked for: the transcript, the call options and who asked."""

    wire: Wire
    model: str  # the model name the client sent
    messages: list[Message]
    options: CallOptions = field(default_factory=CallOptions)
    stream: bool = False
    session: str | None = None  # the client's conversation id header, when it sends one
    client: str | None = None  # the client program, from its user-agent
    key: str | None = None  # the team proxy key's name it came with (ledger rows, budgets)
    include_usage: bool = False  # OpenAI stream_options.include_usage
    # Responses API: the request settings its response object repeats (tools, tool_choice…)
    echo: dict[str, Any] = field(default_factory=dict)


def client_name(user_agent: str | None) -> str | None:
    """The program name of a user-agent ("claude-cli/2.0.1 (external, cli)" -> "claude-cli")."""
    if not user_agent:
        return None
    first = user_agent.strip().split(" ", 1)[0]
    name = first.split("/", 1)[0].strip()
    return name[:40] or None
