"""What an agent's request asks the router: the human turn, overrides, model names, session.

This module only reads the request in the proxy's terms; the decision itself (classifier,
forced tiers and backends, sticky conversations, never down a tier mid-task) is the shared
`routing.decide`. Read here:
- a leading `[use:NAME]` / `@tier` in the latest human turn forces a backend or tier and is
  stripped before sending;
- a `modelrouter/<tier>`, tier or backend model name forces that; the rules' `proxy.models`
  map other names (Claude Code's small/fast model to the cheapest tier); any other name is
  classified;
- what is classified is the latest human turn: its text blocks only, without
  `<system-reminder>` content or tool results, cut to `proxy.classify_chars`;
- the conversation key is the client's session id, else a hash of the first turns; a turn
  that only carries tool results continues the conversation's task on its backend.
"""

from __future__ import annotations

import fnmatch
import hashlib
import re
from dataclasses import dataclass

from modelrouter.config import Rules
from modelrouter.errors import RoutingError
from modelrouter.proxy.request import AgentRequest, RequestError
from modelrouter.routing.decide import Decision, RouteRequest, decide
from modelrouter.routing.sticky import Sessions
from modelrouter.rules import PROXY_CHEAPEST
from modelrouter.transcript import Message, Text

MODEL_PREFIX = "modelrouter/"
AUTO_MODEL = "modelrouter/auto"

_REMINDER = re.compile(r"<system-reminder>.*?(?:</system-reminder>|\Z)", re.DOTALL)
_OVERRIDE = re.compile(r"^\s*(?:\[use:\s*([\w.\-/:]+)\s*\]|@([\w\-]+)\b)[ \t]*\n?")
_LEADING_REMINDERS = re.compile(r"(?:\s*<system-reminder>.*?</system-reminder>)*\s*", re.DOTALL)


@dataclass(frozen=True)
class Routed:
    """The router's decision, the transcript to send (overrides stripped) and the request as
    the router saw it (to remember the answer under its conversation)."""

    decision: Decision
    messages: list[Message]
    route: RouteRequest


def human_turn(messages: list[Message]) -> tuple[int | None, str]:
    """(index, text) of the latest user turn with human text: its text parts only, without
    `<system-reminder>` blocks; (None, "") when the conversation has none."""
    for index in range(len(messages) - 1, -1, -1):
        m = messages[index]
        if m.role != "user":
            continue
        texts = [p.text for p in m.all_parts() if isinstance(p, Text)]
        text = _REMINDER.sub("", "\n".join(texts)).strip()
        if text:
            return index, text
    return None, ""


def only_tool_results(messages: list[Message]) -> bool:
    """True when the last turn carries tool results and no new human text."""
    if not messages or messages[-1].role != "user":
        return False
    last = messages[-1]
    if not last.tool_results:
        return False
    texts = [p.text for p in last.parts if isinstance(p, Text)]
    return not _REMINDER.sub("", "\n".join(texts)).strip()


def task_key(request: AgentRequest) -> str:
    """The conversation's key: the client's session id, else a hash of its first turns."""
    if request.session:
        return "session:" + request.session[:200]
    digest = hashlib.sha256()
    turns = [m for m in request.messages if m.role != "system"][:2]
    for m in turns:
        digest.update(m.role.encode())
        digest.update(_REMINDER.sub("", m.content).strip()[:4000].encode("utf-8", "replace"))
    return "hash:" + digest.hexdigest()[:32]


def route_request(rules: Rules, request: AgentRequest, sessions: Sessions) -> Routed:
    """The routing decision for `request`; raises `RequestError` for unknown names."""
    messages = request.messages
    index, text = human_turn(messages)
    override, messages = _strip_override(rules, messages, index)
    session: str | None = task_key(request)
    if override is not None:
        tier, backend, why = override
    else:
        forced = _by_model_name(rules, request.model)
        tier, backend, why = forced if forced is not None else (None, None, None)
        if forced is not None and not request.model.startswith(MODEL_PREFIX):
            session = None  # a mapped small model (titles, summaries) is not the task
    route = RouteRequest(
        text=text[: rules.proxy.classify_chars],
        tier=tier,
        tier_reason=why,
        backend=backend,
        session=session,
        continuation=only_tool_results(messages),
    )
    try:
        decision = decide(rules, route, sessions=sessions)
    except RoutingError as exc:
        raise RequestError(str(exc)) from None
    return Routed(decision, messages, route)


Target = tuple[str | None, str | None, str]  # (forced tier, forced backend, why)


def _target(rules: Rules, name: str) -> tuple[str | None, str | None] | None:
    """(tier, None) for a tier name or `cheapest`, (None, backend) for a backend name (the
    router picks its tier); None if neither."""
    if name == PROXY_CHEAPEST:
        return rules.tier_order[0], None
    if name in rules.tiers:
        return name, None
    if name in rules.backends:
        return None, name
    return None


def _by_model_name(rules: Rules, model: str) -> Target | None:
    if model.startswith(MODEL_PREFIX) and model != AUTO_MODEL:
        name = model.removeprefix(MODEL_PREFIX)
        target = _target(rules, name)
        if target is None:
            known = ", ".join([*rules.tiers, *rules.backends])
            raise RequestError(f"model {model!r} names no tier or backend; use one of: {known}")
        return (*target, f"model {model} chosen by the client")
    target = _target(rules, model) if model != PROXY_CHEAPEST else None
    if target is not None:
        return (*target, f"model {model} chosen by the client")
    for pattern, name in rules.proxy.models.items():
        if fnmatch.fnmatchcase(model, pattern):
            target = _target(rules, name)
            if target is not None:
                return (*target, f"client model {model} maps to {name} (proxy.models)")
    return None


def _strip_override(
    rules: Rules, messages: list[Message], index: int | None
) -> tuple[Target | None, list[Message]]:
    """A leading `[use:NAME]` or `@tier` in the human turn, and the transcript without it."""
    if index is None:
        return None, messages
    turn = messages[index]
    parts = list(turn.all_parts())
    for i, part in enumerate(parts):
        if not isinstance(part, Text):
            continue
        if not _REMINDER.sub("", part.text).strip():
            continue  # a reminder-only block before the human's text
        offset = _LEADING_REMINDERS.match(part.text).end()  # type: ignore[union-attr]
        head = part.text[offset:]
        match = _OVERRIDE.match(head)
        if match is None:
            return None, messages
        name = match.group(1) or match.group(2)
        target = _target(rules, name)
        if target is None:
            return None, messages  # "@param" in code, an unknown name: plain text
        tier, backend = target
        kind = "backend" if backend else "tier"
        why = f"{kind} {name} chosen in the request"
        parts[i] = Text(part.text[:offset] + head[match.end() :])
        new = Message.of(turn.role, parts, model=turn.model, backend=turn.backend)
        return (tier, backend, why), [*messages[:index], new, *messages[index + 1 :]]
    return None, messages
