"""An agent's request in neutral form, whatever wire format it arrived in."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from modelrouter.transcript import CallOptions, Message, Tool, ToolChoice

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


# What every wire's parser checks the same way, with the same messages.


def string(value: Any, what: str) -> str:
    """`value` if it is a string; else a `RequestError` naming `what`."""
    if not isinstance(value, str):
        raise RequestError(f"{what}: must be a string")
    return value


def model_of(body: Any) -> str:
    """The model name of a request `body`, which must be a JSON object naming one."""
    if not isinstance(body, dict):
        raise RequestError("the request body must be a JSON object")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise RequestError("model: required")
    return model


def output_limit(value: Any, what: str) -> int | None:
    """An output token limit: absent, or a positive integer (not a bool)."""
    if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
        raise RequestError(f"{what}: must be a positive integer")
    return value


def number(value: Any) -> float | None:
    """A sampling setting such as temperature: a number, else left to the backend's default."""
    return float(value) if isinstance(value, (int, float)) else None


def allowed_tools(
    tools: tuple[Tool, ...], mode: Any, listed: Any, name_of: Callable[[dict], Any]
) -> tuple[str, tuple[Tool, ...]]:
    """An `allowed_tools` choice as the plain mode it amounts to (`auto` or `required`) and
    the request's tools it allows: the model may call only those, so only those are sent.
    `name_of` reads a listed tool's function name as the API spells it."""
    if mode not in ("auto", "required") or not isinstance(listed, list):
        raise RequestError("tool_choice: allowed_tools needs mode auto or required and tools")
    names = {name_of(t) for t in listed if isinstance(t, dict) and t.get("type") == "function"}
    kept = tuple(t for t in tools if t.name in names)
    if not kept:
        raise RequestError("tool_choice: allowed_tools names none of the request's functions")
    return mode, kept


def openai_tool_choice(value: Any, parallel: Any, named: str | None) -> ToolChoice | None:
    """OpenAI's `tool_choice` (both of its APIs) with `parallel_tool_calls`; `named` is the
    function a `{"type": "function", …}` choice names, as that API spells it."""
    allow = parallel is not False
    if value is None:
        return None if allow else ToolChoice("auto", parallel=False)
    if value in ("auto", "none"):
        return ToolChoice(value, parallel=allow)
    if value == "required":
        return ToolChoice("any", parallel=allow)
    if named is not None:
        return ToolChoice("tool", named, allow)
    raise RequestError("tool_choice: must be auto, none, required, a function or allowed_tools")
