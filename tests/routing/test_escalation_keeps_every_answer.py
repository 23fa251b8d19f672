"""`run_checked` keeps every answer with its verdicts (passed, failed, skipped), tells of
every failed check, and ends the escalation when a re-ask cannot run (over budget, no
backend), keeping the answers so far."""

from __future__ import annotations

import pytest
from modelrouter.backends.base import Usage
from modelrouter.engine import Job, Outcome
from modelrouter.errors import EngineError
from modelrouter.routing.escalation import (
    CheckFailure,
    EscalationPolicy,
    Verdict,
    refusal,
    run_checked,
)
from modelrouter.rules import default_rules_path, load_rules
from modelrouter.transcript import Message


@pytest.fixture(scope="module")
def rules():
    return load_rules(default_rules_path())


def _outcome(job: Job, text: str) -> Outcome:
    return Outcome(
        text=text,
        backend=f"{job.tier}-backend",
        model=f"{job.tier}-model",
        tier=job.tier,
        reason="",
        attempts=[],
        usage=Usage(1, 1),
        cost_usd=0.25,
        top_tier_cost_usd=1.0,
        latency_s=0.0,
        first_token_s=None,
        ledger_id=3,
    )


def unchanged(outcome: Outcome) -> CheckFailure | None:
    if outcome.text == "same":
        return CheckFailure("unchanged", "did not change the selection")
    return None


def tool(outcome: Outcome) -> Verdict:
    return Verdict.skipped("tool", "tool is not installed")


async def test_every_answer_is_kept_with_its_verdicts(rules):
    answers = iter(["same", "good"])
    failures = []

    async def run(job: Job) -> Outcome:
        return _outcome(job, next(answers))

    cheapest, second = rules.tier_order[:2]
    checked = await run_checked(
        run,
        Job([Message("user", "fix")], cheapest),
        [unchanged, tool],
        EscalationPolicy(rules),
        on_failure=lambda o, f: failures.append((o.text, f.check)),
    )
    assert checked.failure is None and checked.outcome.text == "good"
    first, last = checked.tried
    assert (first.tier, [v.status for v in first.verdicts]) == (cheapest, ["failed"])
    assert (last.tier, [(v.check, v.status) for v in last.verdicts]) == (
        second,
        [("unchanged", "passed"), ("tool", "skipped")],
    )
    assert last.as_dict()["checks"][1] == {
        "check": "tool",
        "status": "skipped",
        "detail": "tool is not installed",
    }
    assert first.as_dict()["cost_usd"] == 0.25 and first.as_dict()["model"] == f"{cheapest}-model"
    assert failures == [("same", "unchanged")]


async def test_a_re_ask_that_cannot_run_ends_the_escalation_with_the_answer_so_far(rules):
    asked = []

    async def run(job: Job) -> Outcome:
        asked.append(job.tier)
        if len(asked) > 1:
            raise EngineError("backend over its daily budget", [])
        return _outcome(job, "same")

    cheapest, second = rules.tier_order[:2]
    checked = await run_checked(
        run, Job([Message("user", "fix")], cheapest), [unchanged], EscalationPolicy(rules)
    )
    assert asked == [cheapest, second]
    assert checked.outcome.text == "same" and checked.job.tier == cheapest
    assert checked.failure is not None and checked.escalations == []
    assert checked.refused is not None and "budget" in checked.refused
    message = refusal(rules, cheapest, "m", checked.failure, checked.refused)
    assert message.startswith("nothing was applied: m's answer did not change the selection")
    assert f"asking tier {second} failed: backend over its daily budget" in message
    assert message.endswith(f"Redo with a stronger model to try tier {second}")


async def test_escalation_off_keeps_the_failed_answer_without_asking_again(rules):
    asked = []

    async def run(job: Job) -> Outcome:
        asked.append(job.tier)
        return _outcome(job, "same")

    checked = await run_checked(
        run,
        Job([Message("user", "fix")], rules.tier_order[0]),
        [unchanged],
        EscalationPolicy(rules, max_steps=0),
    )
    assert len(asked) == 1 and checked.failure is not None and len(checked.tried) == 1
