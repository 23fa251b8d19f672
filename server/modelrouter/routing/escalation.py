"""Escalation: checks on an answer, and when a failed check re-asks one tier up.

A check looks at an answer and returns a `CheckFailure` saying what is wrong with it, or
None. The `EscalationPolicy` decides whether that failure is worth a stronger model: it
names the tier above, a note for the user, and at most `max_steps` escalations happen per
request. `run_checked` ties them together around any way of running a job (the language
server runs it with progress reports, `ask` with streaming), re-asking with the failed
answer and the failure stated, so the stronger model sees what went wrong.

Checks that ship today:
- "syntax": a rewrite of a Python file that parsed makes it stop parsing. Escalated from the
  cheapest tier only, when `edits.escalate_broken_trivial` is on (the default): a trivial
  edit that breaks the file is the small model's failure, not the task's difficulty.

"Redo with a stronger model" (`redo_tier`) is the same step taken by the user.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from modelrouter.config import Rules
from modelrouter.errors import RoutingError

if TYPE_CHECKING:
    from modelrouter.engine import Job, Outcome


@dataclass(frozen=True)
class CheckFailure:
    """What a check found wrong with an answer."""

    check: str  # the check's name ("syntax", ...)
    summary: str  # what the answer did, for the user: "did not parse"
    detail: str = ""  # specifics: "line 3: invalid syntax"
    feedback: str = ""  # told to the next model; defaults to summary and detail

    def __str__(self) -> str:
        return f"{self.summary} ({self.detail})" if self.detail else self.summary

    @property
    def to_model(self) -> str:
        """What the re-asked model is told about the failed answer."""
        return self.feedback or str(self)


# A check may be a plain function or a coroutine (for work that must leave the event loop).
Check = Callable[["Outcome"], "CheckFailure | Awaitable[CheckFailure | None] | None"]


@dataclass(frozen=True)
class Escalation:
    """One re-ask one tier up."""

    from_tier: str
    tier: str  # the tier re-asked
    failure: CheckFailure
    note: str  # for provenance and logs: which model failed how, and where it re-ran


class EscalationPolicy:
    """Whether a failed check re-asks the request one tier up."""

    def __init__(self, rules: Rules, *, max_steps: int | None = None) -> None:
        """`max_steps` defaults to the rules' `escalation.max_steps`."""
        self.rules = rules
        self.max_steps = rules.escalation.max_steps if max_steps is None else max_steps

    def allows(self, failure: CheckFailure, tier: str) -> bool:
        """Whether `failure` on an answer from `tier` is worth a stronger model."""
        if failure.check == "syntax":
            return self.rules.edits.escalate_broken_trivial and self.rules.tier_rank(tier) == 0
        return True

    def escalate(
        self, tier: str, failure: CheckFailure, *, model: str, step: int = 0
    ) -> Escalation | None:
        """The re-ask for `model`'s failed answer on `tier`, or None when the answer stands
        (no tier above, steps used up, or the policy does not escalate this failure)."""
        rules = self.rules
        if step >= self.max_steps or tier not in rules.tiers:
            return None
        upper = rules.next_tier(tier)
        if upper is None or not self.allows(failure, tier):
            return None
        note = f"{model}'s answer on tier {tier} {failure}; re-ran on tier {upper}"
        return Escalation(tier, upper, failure, note)


def retry_job(job: Job, outcome: Outcome, escalation: Escalation) -> Job:
    """`job` asked again one tier up, the failed answer and what was wrong with it in view."""
    from modelrouter import prompts

    return replace(
        job,
        messages=prompts.retry([*job.messages, outcome.as_message()], escalation.failure.to_model),
        tier=escalation.tier,
        prefer_backend=None,  # the backend that failed is not preferred up there
        redo_of=outcome.ledger_id,  # a routing label: this request needed a stronger tier
    )


@dataclass
class Checked:
    """The answer that stands, the job that produced it and the escalations on the way."""

    outcome: Outcome
    job: Job
    escalations: list[Escalation] = field(default_factory=list)
    failure: CheckFailure | None = None  # the standing answer's failed check, if any


async def first_failure(checks: Sequence[Check], outcome: Outcome) -> CheckFailure | None:
    """The first check that fails on `outcome`, in order."""
    for check in checks:
        found = check(outcome)
        if inspect.isawaitable(found):
            found = await found
        if found is not None:
            return found
    return None


async def run_checked(
    run: Callable[[Job], Awaitable[Outcome]],
    job: Job,
    checks: Sequence[Check],
    policy: EscalationPolicy,
    *,
    on_escalate: Callable[[Escalation, Outcome], None] | None = None,
) -> Checked:
    """Run `job`, check the answer, and re-ask one tier up while the policy says so.

    `on_escalate` hears of each escalation before the re-ask (to log it, or tell the user).
    """
    escalations: list[Escalation] = []
    while True:
        outcome = await run(job)
        failure = await first_failure(checks, outcome) if checks else None
        if failure is None:
            return Checked(outcome, job, escalations)
        step = policy.escalate(job.tier, failure, model=outcome.model, step=len(escalations))
        if step is None:
            return Checked(outcome, job, escalations, failure)
        escalations.append(step)
        if on_escalate is not None:
            on_escalate(step, outcome)
        job = retry_job(job, outcome, step)


def refusal(rules: Rules, tier: str, model: str, failure: CheckFailure) -> str:
    """Why nothing was applied, and where "Redo with a stronger model" would go."""
    upper = rules.next_tier(tier) if tier in rules.tiers else None
    redo = (
        f"; Redo with a stronger model to try tier {upper}"
        if upper is not None
        else f" (tier {tier} is the top tier)"
    )
    return f"nothing was applied: {model}'s answer {failure}{redo}"


def redo_tier(rules: Rules, tier: str, model: str) -> str:
    """The tier a user's "redo with a stronger model" of `model`'s answer on `tier` goes to."""
    if tier not in rules.tiers:
        raise RoutingError(f"tier {tier!r} is no longer in the rules")
    upper = rules.next_tier(tier)
    if upper is None:
        raise RoutingError(f"{model} is already on the top tier ({tier})")
    return upper
