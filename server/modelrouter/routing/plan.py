"""The plan: a tier becomes an ordered list of backends to try.

No network: a backend is skipped when its configuration says it cannot work right now
(missing API key, CLI not on PATH), when `health` reports it cooling down, when `budget`
reports it over a limit, or when the request must stay on this machine.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from modelrouter.backends import unusable_reason
from modelrouter.config import BackendConfig, Rules


class Blocker(Protocol):
    """Anything that can veto a backend for now (health tracker, budget)."""

    def blocked_reason(self, backend_name: str) -> str | None:
        """Why `backend_name` must not be tried now, or None when it may."""
        ...


@dataclass(frozen=True)
class Skip:
    """A backend of the tier that will not be tried, and why."""

    backend: str
    reason: str


@dataclass(frozen=True)
class Plan:
    """Backends to try in order (primary first) and the ones skipped."""

    tier: str
    candidates: list[BackendConfig] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)

    @property
    def primary(self) -> BackendConfig | None:
        """The backend tried first, if any is usable."""
        return self.candidates[0] if self.candidates else None

    def context_budget(self, overhead_tokens: int, *, floor: int = 256) -> int:
        """Tokens of context the primary backend takes beside its reply and `overhead_tokens`
        of prompt text; never below `floor`, so a tiny window still sees the selection."""
        primary = self.primary
        if primary is None:
            return floor
        room = primary.context_window - primary.max_output_tokens - overhead_tokens
        return max(room, floor)

    def why_empty(self) -> str:
        """One line explaining why no backend is usable (empty when some is)."""
        if self.candidates:
            return ""
        if not self.skipped:
            return f"tier {self.tier} lists no backends"
        return "; ".join(f"{s.backend}: {s.reason}" for s in self.skipped)


def plan(
    rules: Rules,
    tier: str,
    *,
    health: Blocker | None = None,
    budget: Blocker | None = None,
    local_only: bool = False,
) -> Plan:
    """Ordered candidates for `tier`, each unusable backend listed in `skipped` with the reason."""
    if tier not in rules.tiers:
        raise KeyError(f"unknown tier {tier!r}; tiers are: {', '.join(rules.tier_order)}")
    candidates: list[BackendConfig] = []
    skipped: list[Skip] = []
    for name in rules.tiers[tier]:
        backend = rules.backends[name]
        reason = skip_reason(backend, health=health, budget=budget, local_only=local_only)
        if reason is None:
            candidates.append(backend)
        else:
            skipped.append(Skip(name, reason))
    return Plan(tier, candidates, skipped)


def skip_reason(
    backend: BackendConfig,
    *,
    health: Blocker | None = None,
    budget: Blocker | None = None,
    local_only: bool = False,
) -> str | None:
    """Why the router would skip `backend` now, or None when it would try it."""
    if local_only and not backend.is_local:
        return "request must stay on this machine (local-only file)"
    reason = unusable_reason(backend)
    if reason is None and health is not None:
        reason = health.blocked_reason(backend.name)
    if reason is None and budget is not None:
        reason = budget.blocked_reason(backend.name)
    return reason
