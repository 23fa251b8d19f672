"""The routing decision every front end shares: forced tiers and backends, classification,
sticky follow-ups and conversations, escalation one tier up on a failed check."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from modelrouter.backends.base import Message, Usage
from modelrouter.classify import classify
from modelrouter.engine import Job, Outcome
from modelrouter.errors import ModelRouterError, RoutingError
from modelrouter.routing.decide import RouteRequest, decide, reconsider, remember, route
from modelrouter.routing.escalation import (
    CheckFailure,
    EscalationPolicy,
    redo_tier,
    run_checked,
)
from modelrouter.routing.sticky import Prior, Sessions
from modelrouter.rules import default_rules_path, load_rules


@pytest.fixture(scope="module")
def rules():
    return load_rules(default_rules_path())


def test_a_forced_tier_is_taken_as_is_with_its_reason(rules):
    d = decide(rules, RouteRequest("design a whole new system", tier="trivial", tier_reason="why"))
    assert (d.tier, d.reason, d.source, d.forced) == ("trivial", "why", "forced", True)
    assert d.classification is None


def test_unknown_tier_and_backend_are_routing_errors_naming_the_choices(rules):
    with pytest.raises(RoutingError, match="unknown tier 'nope'; tiers are: trivial, feature"):
        decide(rules, RouteRequest("x", tier="nope"))
    with pytest.raises(RoutingError, match="unknown backend 'nope'; backends are: "):
        decide(rules, RouteRequest("x", backend="nope"))
    assert issubclass(RoutingError, ModelRouterError)


def test_a_forced_backend_goes_to_its_cheapest_tier_and_is_preferred(rules):
    name = rules.tiers[rules.top_tier][0]
    cheapest = next(t for t in rules.tier_order if name in rules.tiers[t])
    d = decide(rules, RouteRequest("fix typo", backend=name))
    assert (d.tier, d.prefer_backend, d.forced) == (cheapest, name, True)
    other = next(t for t in rules.tier_order if name not in rules.tiers[t])
    with pytest.raises(RoutingError, match=f"backend '{name}' is not in tier '{other}'"):
        decide(rules, RouteRequest("fix typo", backend=name, tier=other))


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=200), st.sampled_from([None, "python", "rust"]), st.integers(0, 5000))
def test_free_text_is_classified_exactly_as_classify_does(rules, text, language, tokens):
    if not text.strip():
        with pytest.raises(RoutingError, match="the request is empty"):
            decide(rules, RouteRequest(text, language=language, selection_tokens=tokens))
        return
    d = decide(rules, RouteRequest(text, language=language, selection_tokens=tokens))
    c = classify(rules, text, language=language, selection_tokens=tokens)
    assert (d.tier, d.reason, d.source) == (c.tier, c.reason, c.source)
    assert d.classification == c and d.prefer_backend is None


def test_a_follow_up_stays_on_its_tier_and_backend_unless_it_needs_more(rules):
    top = rules.top_tier
    up = decide(rules, RouteRequest("fix typo", follow_up=Prior(top, "claude", "opus")))
    assert (up.tier, up.prefer_backend, up.source) == (top, "claude", "sticky")
    assert up.reason.startswith("follow-up on code written by opus; ")
    cheapest = rules.tier_order[0]
    stronger = decide(
        rules,
        RouteRequest("design the architecture", tier=top, follow_up=Prior(cheapest, "local")),
    )
    assert (stronger.tier, stronger.prefer_backend, stronger.follows) == (top, None, None)


def test_a_follow_up_on_a_tier_no_longer_in_the_rules_is_routed_afresh(rules):
    d = decide(rules, RouteRequest("fix typo", follow_up=Prior("gone", "old", "m")))
    assert d.follows is None and d.tier in rules.tiers


def test_a_conversation_never_goes_down_a_tier_and_keeps_its_backend(rules):
    sessions = Sessions()
    first = RouteRequest("design the architecture of the billing system", session="s1")
    d1 = decide(rules, first, sessions=sessions)
    remember(sessions, first, d1.tier, "big", "big-model")
    d2 = decide(rules, RouteRequest("fix typo", session="s1"), sessions=sessions)
    assert (d2.tier, d2.prefer_backend) == (d1.tier, "big")
    assert "same conversation as big-model's answer" in d2.reason
    tools = decide(rules, RouteRequest("", session="s1", continuation=True), sessions=sessions)
    assert (tools.tier, tools.prefer_backend, tools.classification) == (d1.tier, "big", None)
    other = decide(rules, RouteRequest("fix typo", session="s2"), sessions=sessions)
    assert other.follows is None


def test_sessions_are_bounded_and_expire():
    sessions = Sessions(limit=2, ttl_s=60)
    for key in ("a", "b", "c"):
        sessions.remember(key, "feature", "x", "m")
    assert len(sessions) == 2 and sessions.get("a") is None and sessions.get("c") is not None
    stale = Sessions(ttl_s=-1)
    stale.remember("a", "feature", "x", "m")
    assert stale.get("a") is None


async def test_route_without_an_engine_is_the_offline_decision(rules):
    request = RouteRequest("why does this test fail")
    d = await route(rules, request)
    assert d == decide(rules, request)
    assert await reconsider(rules, request, d, engine=None) is d


def _outcome(job: Job, text: str, backend: str = "b", ledger_id: int | None = 7) -> Outcome:
    return Outcome(
        text=text,
        backend=backend,
        model=f"{job.tier}-model",
        tier=job.tier,
        reason=job.reason,
        attempts=[],
        usage=Usage(1, 1),
        cost_usd=0.0,
        top_tier_cost_usd=0.0,
        latency_s=0.0,
        first_token_s=None,
        ledger_id=ledger_id,
    )


def _job(tier: str) -> Job:
    return Job(messages=[Message("user", "do it")], tier=tier, prefer_backend="b")


async def test_a_failed_check_re_asks_one_tier_up_with_the_failure_stated(rules):
    asked: list[Job] = []

    async def run(job: Job) -> Outcome:
        asked.append(job)
        return _outcome(job, "bad" if len(asked) == 1 else "good")

    def check(outcome: Outcome) -> CheckFailure | None:
        return CheckFailure("syntax", "did not parse", "line 1") if outcome.text == "bad" else None

    seen = []
    cheapest, second = rules.tier_order[:2]
    checked = await run_checked(
        run,
        _job(cheapest),
        [check],
        EscalationPolicy(rules),
        on_escalate=lambda e, o: seen.append((e.note, o.text)),
    )
    assert [j.tier for j in asked] == [cheapest, second]
    assert checked.outcome.text == "good" and checked.failure is None
    retry = asked[1]
    assert retry.prefer_backend is None and retry.redo_of == 7
    assert retry.messages[-2].role == "assistant" and retry.messages[-2].content == "bad"
    assert "did not parse (line 1)" in retry.messages[-1].content
    assert seen == [
        (
            f"{cheapest}-model's answer on tier {cheapest} did not parse (line 1); "
            f"re-ran on tier {second}",
            "bad",
        )
    ]


async def test_escalation_stops_at_max_steps_and_the_last_answer_stands(rules):
    asked: list[str] = []

    async def run(job: Job) -> Outcome:
        asked.append(job.tier)
        return _outcome(job, "bad")

    async def check(outcome: Outcome) -> CheckFailure | None:  # checks may be coroutines
        return CheckFailure("tests", "failed its tests")

    checked = await run_checked(
        run, _job(rules.tier_order[0]), [check], EscalationPolicy(rules, max_steps=2)
    )
    assert asked == rules.tier_order[:3]
    assert len(checked.escalations) == 2 and checked.failure is not None


async def test_syntax_escalation_is_only_from_the_cheapest_tier_and_can_be_turned_off(rules):
    failure = CheckFailure("syntax", "did not parse", "x")
    policy = EscalationPolicy(rules)
    assert policy.escalate(rules.tier_order[0], failure, model="m") is not None
    assert policy.escalate(rules.tier_order[1], failure, model="m") is None
    assert policy.escalate(rules.top_tier, CheckFailure("other", "bad"), model="m") is None
    off = dataclasses.replace(
        rules, edits=dataclasses.replace(rules.edits, escalate_broken_trivial=False)
    )
    assert EscalationPolicy(off).escalate(off.tier_order[0], failure, model="m") is None


def test_redo_goes_one_tier_up_or_says_why_not(rules):
    assert redo_tier(rules, rules.tier_order[0], "m") == rules.tier_order[1]
    with pytest.raises(RoutingError, match=r"m is already on the top tier"):
        redo_tier(rules, rules.top_tier, "m")
    with pytest.raises(RoutingError, match="tier 'gone' is no longer in the rules"):
        redo_tier(rules, "gone", "m")
