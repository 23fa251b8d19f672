"""Sticky follow-ups: a request that continues earlier work stays with that work's model.

A follow-up keeps the tier and the backend of the answer it follows, unless the new request
needs a stronger tier: switching models mid-task loses the conversation the model had, and
going down a tier mid-task is how a cheap model ends up undoing a strong one's work.

The editor knows what a request follows from the provenance of the code under the cursor;
front ends whose requests carry a conversation key instead (the HTTP proxy) keep the last
answer of each conversation in a `Sessions` store.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING

from modelrouter.config import Rules

if TYPE_CHECKING:
    from modelrouter.provenance import Record

SESSION_LIMIT = 1024  # conversations remembered; the least recently used are dropped
SESSION_TTL_S = 6 * 3600.0  # a conversation idle this long starts afresh


@dataclass(frozen=True)
class Prior:
    """The answer a request follows up on: its tier, and the backend and model that wrote it."""

    tier: str
    backend: str | None = None
    model: str | None = None


def keeps(rules: Rules, tier: str, prior: Prior) -> bool:
    """Whether a request classified as `tier` stays on `prior`'s tier and backend: when the
    prior tier is at least as strong (both must still be in the rules)."""
    return (
        prior.tier in rules.tiers
        and tier in rules.tiers
        and rules.tier_rank(tier) <= rules.tier_rank(prior.tier)
    )


def editor_follow_up(action_kind: str, record: Record | None) -> Prior | None:
    """What an editor action on model-written code follows up on: the answer that wrote it,
    when the action rewrites code and that answer's conversation was kept (answers, tests
    and design notes start afresh)."""
    if record is None or not record.transcript or action_kind != "rewrite":
        return None
    return Prior(record.tier, record.backend, record.model)


class Sessions:
    """The last answer of each recent conversation, by conversation key (in memory, bounded)."""

    def __init__(self, limit: int = SESSION_LIMIT, ttl_s: float = SESSION_TTL_S) -> None:
        self.limit = limit
        self.ttl_s = ttl_s
        self._items: OrderedDict[str, tuple[float, Prior]] = OrderedDict()

    def get(self, key: str) -> Prior | None:
        """The conversation's last answer, or None when it is new or has been idle too long."""
        hit = self._items.get(key)
        if hit is None:
            return None
        seen, prior = hit
        if time.monotonic() - seen > self.ttl_s:
            del self._items[key]
            return None
        self._items.move_to_end(key)
        return prior

    def remember(self, key: str, tier: str, backend: str | None, model: str | None) -> None:
        """Record the answer a conversation just received."""
        self._items[key] = (time.monotonic(), Prior(tier, backend, model))
        self._items.move_to_end(key)
        while len(self._items) > self.limit:
            self._items.popitem(last=False)

    def forget(self, key: str) -> None:
        """Drop a conversation (it ended, or the user asked to start over)."""
        self._items.pop(key, None)

    def __len__(self) -> int:
        return len(self._items)
