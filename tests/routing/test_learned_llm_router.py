"""LLM-as-router against the fake provider: a tier from the router model, falling back to the
learned decision on timeout, error or an answer naming no tier."""

from __future__ import annotations

from dataclasses import replace

import httpx
import pytest
from modelrouter.backends import make_backend
from modelrouter.classify import Classification
from modelrouter.llm_router import backend_ask, llm_classify, parse_tier, should_ask
from modelrouter.rules import default_rules_path, load_rules
from support.fakes.provider import Reply
from support.fakes.rules import backend

TIERS = ["trivial", "feature", "debug", "architecture"]


@pytest.fixture(scope="module")
def base_rules():
    return load_rules(default_rules_path())


def unsure(tier: str = "feature") -> Classification:
    return Classification(
        tier=tier, confidence=0.41, reason="learned model: feature 0.41", source="learned"
    )


def router_rules(base_rules, fake_provider, timeout: float = 1.0):
    cfg = backend("router", "ollama", fake_provider.base_url("ollama", "router"))
    return replace(
        base_rules,
        backends={**base_rules.backends, "router": cfg},
        classifier=replace(base_rules.classifier, llm_router="router", llm_router_timeout=timeout),
    )


def test_parse_tier_takes_the_first_whole_word():
    assert parse_tier("Debug. (not architecture)", TIERS) == "debug"
    assert parse_tier("trivially a feature", TIERS) == "feature"
    assert parse_tier("no idea", TIERS) is None


def test_only_unsure_learned_decisions_are_sent(base_rules, fake_provider):
    rules = router_rules(base_rules, fake_provider)
    assert should_ask(rules, unsure())
    assert not should_ask(rules, replace(unsure(), confidence=0.95))
    assert not should_ask(rules, replace(unsure(), source="rules"))
    assert not should_ask(base_rules, unsure())  # off by default


async def run(rules, fake_provider, text: str, fallback: Classification) -> Classification:
    async with httpx.AsyncClient() as client:
        ask = backend_ask(make_backend(rules.backends["router"], client))
        return await llm_classify(ask, rules, text, fallback)


async def test_router_model_answer_decides(base_rules, fake_provider):
    fake_provider.reply("router", Reply(text="architecture"))
    rules = router_rules(base_rules, fake_provider)
    result = await run(rules, fake_provider, "rework the storage engine", unsure())
    assert result.tier == "architecture" and result.source == "llm"
    assert result.reason.startswith("LLM router router: architecture in ")
    sent = fake_provider.requests_to("router")[0].body
    assert "rework the storage engine" in str(sent) and "trivial" in str(sent)


async def test_router_cannot_drop_more_than_one_tier(base_rules, fake_provider):
    fake_provider.reply("router", Reply(text="trivial"))
    rules = router_rules(base_rules, fake_provider)
    result = await run(rules, fake_provider, "x", unsure("debug"))
    assert result.tier == "feature" and "kept at feature" in result.reason


async def test_slow_router_falls_back_to_the_learned_decision(base_rules, fake_provider):
    fake_provider.reply("router", Reply(text="debug", first_delay=1.0))
    rules = router_rules(base_rules, fake_provider, timeout=0.2)
    result = await run(rules, fake_provider, "x", unsure())
    assert result.tier == "feature" and result.source == "learned"
    assert "timed out after 0.2 s" in result.reason


async def test_failing_router_falls_back(base_rules, fake_provider):
    fake_provider.reply("router", Reply(status=500))
    rules = router_rules(base_rules, fake_provider)
    result = await run(rules, fake_provider, "x", unsure())
    assert result.tier == "feature" and "failed" in result.reason


async def test_answer_without_a_tier_falls_back(base_rules, fake_provider):
    fake_provider.reply("router", Reply(text="I cannot say."))
    rules = router_rules(base_rules, fake_provider)
    result = await run(rules, fake_provider, "x", unsure())
    assert result.tier == "feature" and "no tier in" in result.reason


async def test_engine_hook_asks_only_when_unsure(base_rules, fake_provider):
    from modelrouter.engine import Engine
    from modelrouter.llm_router import maybe_llm_route

    fake_provider.default("router", Reply(text="debug"))
    engine = Engine(router_rules(base_rules, fake_provider))
    try:
        decided = await maybe_llm_route(engine, "x", unsure())
        assert decided.tier == "debug" and decided.source == "llm"
        sure = replace(unsure(), confidence=0.99)
        assert await maybe_llm_route(engine, "x", sure) == sure
        assert len(fake_provider.requests_to("router")) == 1
    finally:
        await engine.aclose()
