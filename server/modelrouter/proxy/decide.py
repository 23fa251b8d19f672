"""Which tier and backend answer an agent's request.

In order: a leading `[use:NAME]` / `@tier` in the latest human turn (stripped before
sending); a `modelrouter/<tier>` or backend model name; the rules' `proxy.models` map
(Claude Code's small/fast model to the cheapest tier); otherwise the classifier on the latest
human turn: its text blocks only, without `<system-reminder>` content or tool results, cut
to `proxy.classify_chars`.

One task stays on one backend: a turn that only carries tool results, or a follow-up in the
same conversation, goes to the backend that started the task, unless the new human turn
needs a higher tier. A task never moves down a tier.
"""

from __future__ import annotations

import fnmatch
import hashlib
import re
import time
from collections import OrderedDict
from dataclasses import dataclass

from modelrouter.classify import Classification, classify
from modelrouter.config import Rules
from modelrouter.proxy.request import AgentRequest, RequestError
from modelrouter.rules import PROXY_CHEAPEST
from modelrouter.transcript import Message, Text

MODEL_PREFIX = "modelrouter/"
AUTO_MODEL = "modelrouter/auto"

_REMINDER = re.compile(r"<system-reminder>.*?(?:</system-reminder>|\Z)", re.DOTALL)
_OVERRIDE = re.compile(r"^\s*(?:\[use:\s*([\w.\-/:]+)\s*\]|@([\w\-]+)\b)[ \t]*\n?")
_LEADING_REMINDERS = re.compile(r"(?:\s*<system-reminder>.*?</system-reminder>)*\s*", re.DOTALL)
_TASKS_MAX = 10_000


@dataclass(frozen=True)
class Decision:
    """Where the request goes, why, and the transcript to send (overrides stripped)."""

    tier: str
    reason: str
    messages: list[Message]
    prefer_backend: str | None = None
    task: str | None = None  # sticky-task key to remember the answering backend under
    forced: bool = False  # the client or the user chose the tier/backend explicitly
    human_text: str = ""  # what was classified (never logged; for the ledger's labels)


@dataclass
class _Task:
    tier: str
    backend: str | None
    seen: float


class TaskStore:
    """Which backend and tier each conversation's task is on (in memory, bounded, expiring)."""

    def __init__(self, ttl_s: float) -> None:
        self.ttl_s = ttl_s
        self._tasks: OrderedDict[str, _Task] = OrderedDict()

    def get(self, key: str) -> _Task | None:
        task = self._tasks.get(key)
        if task is None:
            return None
        if time.monotonic() - task.seen > self.ttl_s:
            del self._tasks[key]
            return None
        self._tasks.move_to_end(key)
        return task

    def put(self, key: str, tier: str, backend: str | None) -> None:
        self._tasks[key] = _Task(tier, backend, time.monotonic())
        self._tasks.move_to_end(key)
        while len(self._tasks) > _TASKS_MAX:
            self._tasks.popitem(last=False)


def route_text(rules: Rules, text: str) -> Classification:
    """The classifier's decision for a human turn (the one place the proxy asks it)."""
    return classify(rules, text)


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


def decide(rules: Rules, request: AgentRequest, tasks: TaskStore) -> Decision:
    """The tier, preferred backend and outgoing transcript for `request`.

    Raises `RequestError` for a model name that names an unknown tier.
    """
    messages = request.messages
    index, text = human_turn(messages)
    override, messages = _strip_override(rules, messages, index)
    if override is not None:
        tier, backend, why = override
        return Decision(tier, why, messages, backend, task_key(request), True, text)
    forced = _by_model_name(rules, request.model)
    if forced is not None:
        tier, backend, why = forced
        # A forced small model (Claude Code's title/summary calls) is not the task.
        return Decision(tier, why, messages, backend, None, True, text)
    key = task_key(request)
    task = tasks.get(key)
    if task is not None and only_tool_results(messages):
        return Decision(
            task.tier,
            "tool results of the current task stay on its backend",
            messages,
            task.backend,
            key,
            False,
            text,
        )
    bound = rules.proxy.classify_chars
    classified = route_text(rules, text[:bound]) if text else None
    if classified is None:
        tier, reason = rules.default_tier, "no human text to classify; default tier"
    else:
        tier, reason = classified.tier, classified.reason
    if task is not None and rules.tier_rank(task.tier) >= rules.tier_rank(tier):
        # Never down mid-conversation: the task's backend knows what it did so far.
        why = f"same task as before ({task.tier}); the new turn asks for {tier}"
        return Decision(task.tier, why, messages, task.backend, key, False, text)
    return Decision(tier, reason, messages, None, key, False, text)


def remember(tasks: TaskStore, decision: Decision, backend: str | None) -> None:
    """Keep the task on the backend that answered it."""
    if decision.task is not None and backend is not None:
        tasks.put(decision.task, decision.tier, backend)


def tier_of_backend(rules: Rules, name: str) -> str | None:
    """The cheapest tier whose chain lists backend `name`."""
    for tier, names in rules.tiers.items():
        if name in names:
            return tier
    return None


def _target(rules: Rules, name: str) -> tuple[str, str | None] | None:
    """(tier, backend) for a tier name, a backend name or `cheapest`; None if neither."""
    if name == PROXY_CHEAPEST:
        return rules.tier_order[0], None
    if name in rules.tiers:
        return name, None
    if name in rules.backends:
        tier = tier_of_backend(rules, name)
        if tier is not None:
            return tier, name
    return None


def _by_model_name(rules: Rules, model: str) -> tuple[str, str | None, str] | None:
    if model.startswith(MODEL_PREFIX) and model != AUTO_MODEL:
        name = model.removeprefix(MODEL_PREFIX)
        target = _target(rules, name)
        if target is None or (name in rules.backends and target[1] is None):
            known = ", ".join([*rules.tiers, *rules.backends])
            raise RequestError(f"model {model!r} names no tier or backend; use one of: {known}")
        return (*target, f"model {model} chosen by the client")
    if model in rules.backends or model in rules.tiers:
        target = _target(rules, model)
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
) -> tuple[tuple[str, str | None, str] | None, list[Message]]:
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
