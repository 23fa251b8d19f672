"""Escalation: checks on an answer, and when a failed check re-asks one tier up.

A check looks at an answer and says what is wrong with it (a `CheckFailure`), that it
could not look (a skipped `Verdict`: the tool is missing, it timed out) or nothing (it
passed); a check may also give the verdicts of several checks it ran in order. The
`EscalationPolicy` decides whether a failure is worth a stronger model: it names the tier
above, a note for the user, and at most `escalation.max_steps` escalations happen per
request. `run_checked` ties them together around any way of running a job (the language
server runs it with progress reports, `ask` with streaming), re-asking with the failed
answer and the failure stated, so the stronger model sees what went wrong. Every answer
and its verdicts are kept (`Checked.tried`) for provenance; a re-ask that cannot run (over
budget, no backend) ends the escalation with the answers so far.

The checks themselves live in `modelrouter.answer_checks`. A "syntax" failure escalates
from the cheapest tier only, when `edits.escalate_broken_trivial` is on (the default): a
trivial edit that breaks the file is the small model's failure, not the task's difficulty.

"Redo with a stronger model" (`redo_tier`) is the same step taken by the user.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

from modelrouter.config import Rules
from modelrouter.errors import ModelRouterError, RoutingError

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


@dataclass(frozen=True)
class Verdict:
    """What one check said about one answer."""

    check: str
    status: Literal["passed", "failed", "skipped"]
    detail: str = ""  # why it failed or was skipped
    failure: CheckFailure | None = None

    @classmethod
    def failed(cls, failure: CheckFailure) -> Verdict:
        return cls(failure.check, "failed", str(failure), failure)

    @classmethod
    def skipped(cls, check: str, why: str) -> Verdict:
        return cls(check, "skipped", why)


# A check may be a plain function or a coroutine (for work that must leave the event loop).
CheckResult = CheckFailure | Verdict | Sequence[Verdict] | None
Check = Callable[["Outcome"], "CheckResult | Awaitable[CheckResult]"]


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

    failure = escalation.failure
    return replace(
        job,
        messages=prompts.retry([*job.messages, outcome.as_message()], failure.to_model),
        tier=escalation.tier,
        prefer_backend=None,  # the backend that failed is not preferred up there
        redo_of=outcome.ledger_id,  # a routing label: this request needed a stronger tier
        # For the ledger: which check the replaced answer failed, and how.
        escalation=f"{failure.check}: {failure.detail or failure.summary}",
    )


@dataclass(frozen=True)
class Tried:
    """One answer on the way and what the checks said about it."""

    outcome: Outcome
    tier: str
    verdicts: tuple[Verdict, ...]

    @property
    def failure(self) -> CheckFailure | None:
        return next((v.failure for v in self.verdicts if v.failure is not None), None)

    def as_dict(self) -> dict[str, Any]:
        """Model, backend, tier, cost and verdicts, as provenance and `ask --json` show them."""
        return {
            "model": self.outcome.model,
            "backend": self.outcome.backend,
            "tier": self.tier,
            "cost_usd": self.outcome.cost_usd,
            "checks": [
                {"check": v.check, "status": v.status, "detail": v.detail} for v in self.verdicts
            ],
        }


@dataclass
class Checked:
    """The answer that stands, the job that produced it and the escalations on the way."""

    outcome: Outcome
    job: Job
    escalations: list[Escalation] = field(default_factory=list)
    failure: CheckFailure | None = None  # the standing answer's failed check, if any
    tried: list[Tried] = field(default_factory=list)  # every answer, in order
    refused: str | None = None  # why the last re-ask could not run (budget, no backend)


def _verdicts(check: Check, found: CheckResult) -> list[Verdict]:
    if found is None:
        return [Verdict(getattr(check, "name", getattr(check, "__name__", "check")), "passed")]
    if isinstance(found, CheckFailure):
        return [Verdict.failed(found)]
    if isinstance(found, Verdict):
        return [found]
    return list(found)


async def judge(checks: Sequence[Check], outcome: Outcome) -> list[Verdict]:
    """The verdicts on `outcome`, checks in order, up to the first that fails."""
    out: list[Verdict] = []
    for check in checks:
        found = check(outcome)
        if inspect.isawaitable(found):
            found = await found
        out.extend(_verdicts(check, found))
        if any(v.failure is not None for v in out):
            break
    return out


async def judged(checks: Sequence[Check], outcome: Outcome, tier: str) -> Tried:
    """`outcome`, an answer on `tier`, with the verdicts of `checks` on it."""
    return Tried(outcome, tier, tuple(await judge(checks, outcome)))


async def run_checked(
    run: Callable[[Job], Awaitable[Outcome]],
    job: Job,
    checks: Sequence[Check],
    policy: EscalationPolicy,
    *,
    on_escalate: Callable[[Escalation, Outcome], None] | None = None,
    on_failure: Callable[[Outcome, CheckFailure], None] | None = None,
) -> Checked:
    """Run `job`, check the answer, and re-ask one tier up while the policy says so.

    `on_escalate` hears of each escalation before the re-ask (to log it, or tell the user);
    `on_failure` of every failed check, escalated or not (to record it). A re-ask that
    fails with an error the front end reports (over budget, no usable backend) ends the
    escalation: the failed answer stands, and `refused` says why.
    """
    escalations: list[Escalation] = []
    tried: list[Tried] = []
    outcome = await run(job)
    while True:
        tried.append(await judged(checks, outcome, job.tier))
        failure = tried[-1].failure
        if failure is None:
            return Checked(outcome, job, escalations, None, tried)
        if on_failure is not None:
            on_failure(outcome, failure)
        step = policy.escalate(job.tier, failure, model=outcome.model, step=len(escalations))
        if step is None:
            return Checked(outcome, job, escalations, failure, tried)
        if on_escalate is not None:
            on_escalate(step, outcome)
        retry = retry_job(job, outcome, step)
        try:
            answer = await run(retry)
        except ModelRouterError as exc:
            return Checked(outcome, job, escalations, failure, tried, refused=str(exc))
        escalations.append(step)
        job, outcome = retry, answer


def refusal(
    rules: Rules, tier: str, model: str, failure: CheckFailure, refused: str | None = None
) -> str:
    """Why nothing was applied, and where "Redo with a stronger model" would go."""
    upper = rules.next_tier(tier) if tier in rules.tiers else None
    why = f"; asking tier {upper} failed: {refused.splitlines()[0]}" if refused and upper else ""
    redo = (
        f"; Redo with a stronger model to try tier {upper}"
        if upper is not None
        else f" (tier {tier} is the top tier)"
    )
    return f"nothing was applied: {model}'s answer {failure}{why}{redo}"


def redo_tier(rules: Rules, tier: str, model: str) -> str:
    """The tier a user's "redo with a stronger model" of `model`'s answer on `tier` goes to."""
    if tier not in rules.tiers:
        raise RoutingError(f"tier {tier!r} is no longer in the rules")
    upper = rules.next_tier(tier)
    if upper is None:
        raise RoutingError(f"{model} is already on the top tier ({tier})")
    return upper
