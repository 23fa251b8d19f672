"""Engine.run walks the tier's chain: fallback, cooldown, partial streams, clear errors."""

from __future__ import annotations

import socket

import pytest
from modelrouter.backends.base import Message
from modelrouter.config import Price, Timeouts
from modelrouter.engine import AttemptStarted, Engine, EngineError, FellBack, Job, Progress
from support.fakes.provider import Reply
from support.fakes.rules import backend, rules_with


def _job(text: str = "fix the bug", **kw) -> Job:
    return Job(
        messages=[Message("system", "Be brief."), Message("user", text)],
        tier="feature",
        reason="test",
        **kw,
    )


def _pair(fake, primary_wire="anthropic", fallback_wire="openai", **primary_kw):
    primary = backend("primary", primary_wire, fake.base_url(primary_wire, "primary"), **primary_kw)
    fallback = backend("fallback", fallback_wire, fake.base_url(fallback_wire, "fallback"))
    return rules_with(primary, fallback)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_429_with_retry_after_on_primary_leads_to_the_fallback_answering(fake_provider):
    fake_provider.default("primary", Reply(status=429, headers={"retry-after": "30"}))
    fake_provider.default(
        "fallback", Reply(text="fallback answer", input_tokens=5, output_tokens=2)
    )
    events = []
    async with Engine(_pair(fake_provider)) as engine:
        outcome = await engine.run(_job(), events.append)
    assert outcome.text == "fallback answer"
    assert outcome.backend == "fallback"
    assert outcome.fell_back
    assert [(a.backend, a.outcome) for a in outcome.attempts] == [
        ("primary", "rate_limit"),
        ("fallback", "ok"),
    ]
    assert "retry after 30 s" in outcome.attempts[0].error
    assert all(a.elapsed_s > 0 for a in outcome.attempts)
    assert [type(e) for e in events if not isinstance(e, Progress)] == [
        AttemptStarted,
        FellBack,
        AttemptStarted,
    ]
    fell = next(e for e in events if isinstance(e, FellBack))
    assert (fell.from_backend, fell.to_backend) == ("primary", "fallback")
    # retry-after is honoured: the primary cools down for that long
    assert 25 < engine.health.cooldown_left("primary") <= 30


async def test_cooled_down_backend_is_not_tried_on_the_next_request(fake_provider):
    fake_provider.default("primary", Reply(status=503))
    fake_provider.default("fallback", Reply(text="ok"))
    async with Engine(_pair(fake_provider)) as engine:
        await engine.run(_job())
        second = await engine.run(_job("another request"))
        plan = engine.plan("feature")
    assert len(fake_provider.requests_to("primary")) == 1
    assert len(fake_provider.requests_to("fallback")) == 2
    assert [a.backend for a in second.attempts] == ["fallback"]
    assert [s.backend for s in plan.skipped] == ["primary"]
    assert "cooling down" in plan.skipped[0].reason
    assert "HTTP 503" in plan.skipped[0].reason


async def test_dead_backend_on_a_closed_port_is_skipped(fake_provider):
    port = _closed_port()
    dead = backend(
        "dead",
        "ollama",
        f"http://127.0.0.1:{port}",
        timeouts=Timeouts(connect=1.0, first_byte=5, total=10),
    )
    alive = backend("alive", "gemini", fake_provider.base_url("gemini", "alive"))
    fake_provider.default("alive", Reply(text="from gemini"))
    async with Engine(rules_with(dead, alive)) as engine:
        outcome = await engine.run(_job())
    assert outcome.text == "from gemini"
    assert outcome.attempts[0].outcome == "connect"
    assert engine.health.blocked_reason("dead") is not None


@pytest.mark.parametrize("fault", ["cut_after", "garbage_after", "error_after"])
async def test_stream_failing_part_way_restarts_on_the_next_backend_without_partial_text(
    fake_provider, fault
):
    partial = "PRIMARY-PARTIAL-" * 8
    fake_provider.default("primary", Reply(text=partial, chunk_size=4, **{fault: 5}))
    fake_provider.default("fallback", Reply(text="complete fallback answer"))
    events = []
    async with Engine(_pair(fake_provider)) as engine:
        outcome = await engine.run(_job(), events.append)
    streamed_from_primary = "".join(
        e.text for e in events if isinstance(e, Progress) and e.backend == "primary"
    )
    assert streamed_from_primary  # the primary really got part-way
    assert outcome.text == "complete fallback answer"
    assert "PRIMARY" not in outcome.text
    assert outcome.attempts[0].outcome in ("stream", "overloaded")


async def test_401_is_not_retried_and_is_reported_clearly(fake_provider, monkeypatch):
    monkeypatch.setenv("PRIMARY_KEY", "sk-bad-key")
    fake_provider.default("primary", Reply(status=401))
    async with Engine(_pair(fake_provider, api_key_env="PRIMARY_KEY")) as engine:
        with pytest.raises(EngineError) as info:
            await engine.run(_job())
        # not put in a cooldown either: the next request reports the same problem again
        assert engine.health.blocked_reason("primary") is None
    assert len(fake_provider.requests_to("primary")) == 1
    assert fake_provider.requests_to("fallback") == []
    message = str(info.value)
    assert "HTTP 401" in message and "check PRIMARY_KEY" in message
    assert [a.outcome for a in info.value.attempts] == ["auth"]


async def test_every_backend_failing_raises_with_each_reason(fake_provider):
    fake_provider.default("primary", Reply(status=529))
    fake_provider.default("fallback", Reply(status=500))
    async with Engine(_pair(fake_provider)) as engine:
        with pytest.raises(EngineError) as info:
            await engine.run(_job())
        with pytest.raises(EngineError) as again:
            await engine.run(_job())
    assert "primary: HTTP 529 overloaded" in str(info.value)
    assert "fallback: HTTP 500 server error" in str(info.value)
    # the second request waits on nobody: both are cooling down and say so
    assert "primary: skipped, cooling down" in str(again.value)
    assert again.value.attempts == []


@pytest.mark.parametrize(
    ("wire", "headers"),
    [
        (
            "openai",
            {
                "x-ratelimit-remaining-requests": "0",
                "x-ratelimit-reset-requests": "40s",
                "x-ratelimit-remaining-tokens": "90000",
            },
        ),
        (
            "anthropic",
            {
                "anthropic-ratelimit-requests-remaining": "0",
                "anthropic-ratelimit-requests-reset": "2099-01-01T00:00:00Z",
            },
        ),
    ],
)
async def test_rate_limit_headers_cool_down_before_the_limit_is_hit(fake_provider, wire, headers):
    fake_provider.default("primary", Reply(text="last one allowed", headers=headers))
    fake_provider.default("fallback", Reply(text="from fallback"))
    async with Engine(_pair(fake_provider, primary_wire=wire)) as engine:
        first = await engine.run(_job())
        second = await engine.run(_job())
    assert first.backend == "primary"
    assert second.backend == "fallback"
    assert len(fake_provider.requests_to("primary")) == 1  # never sent into a 429
    assert "requests rate limit used up" in engine.health.blocked_reason("primary")


async def test_no_first_byte_within_the_timeout_falls_back(fake_provider):
    fake_provider.default("primary", Reply(text="too late", first_delay=1.5))
    fake_provider.default("fallback", Reply(text="on time"))
    rules = _pair(fake_provider, timeouts=Timeouts(connect=1, first_byte=0.3, total=10))
    async with Engine(rules) as engine:
        outcome = await engine.run(_job())
    assert outcome.text == "on time"
    assert outcome.attempts[0].outcome == "timeout"


async def test_total_timeout_bounds_a_slow_stream(fake_provider):
    fake_provider.default("primary", Reply(text="x" * 40, chunk_size=2, delay=0.1))
    fake_provider.default("fallback", Reply(text="fast"))
    rules = _pair(fake_provider, timeouts=Timeouts(connect=1, first_byte=1, total=0.5))
    async with Engine(rules) as engine:
        outcome = await engine.run(_job())
    assert outcome.text == "fast"
    assert outcome.attempts[0].outcome == "timeout"
    assert "not complete within 0.5 s" in outcome.attempts[0].error


async def test_outcome_reports_usage_cost_and_top_tier_cost(fake_provider):
    cheap = backend(
        "cheap",
        "ollama",
        fake_provider.base_url("ollama", "cheap"),
        price=Price(input=1.0, output=2.0),
    )
    top = backend(
        "top",
        "anthropic",
        fake_provider.base_url("anthropic", "top"),
        price=Price(input=10.0, output=50.0),
    )
    fake_provider.default("cheap", Reply(text="answer", input_tokens=1000, output_tokens=500))
    async with Engine(rules_with(cheap, top)) as engine:
        outcome = await engine.run(_job())
    assert outcome.usage.input_tokens == 1000 and outcome.usage.output_tokens == 500
    assert outcome.cost_usd == pytest.approx((1000 * 1.0 + 500 * 2.0) / 1e6)
    assert outcome.top_tier_cost_usd == pytest.approx((1000 * 10.0 + 500 * 50.0) / 1e6)
    assert outcome.first_token_s is not None and outcome.latency_s >= outcome.first_token_s


async def test_follow_up_on_another_model_sees_the_earlier_exchange(fake_provider):
    fake_provider.default("primary", Reply(text="Use a set here."))
    fake_provider.default("fallback", Reply(text="Because lookups are O(1)."))
    async with Engine(_pair(fake_provider, primary_wire="gemini")) as engine:
        first = await engine.run(_job("speed this up"))
        follow = Job(
            messages=[*_job("speed this up").messages, first.as_message(), Message("user", "why?")],
            tier="feature",
            prefer_backend="fallback",
        )
        second = await engine.run(follow)
    assert first.as_message().model == "primary-model"
    assert second.backend == "fallback"
    sent = fake_provider.requests_to("fallback")[0].body["messages"]
    assert [m["role"] for m in sent] == ["system", "user", "assistant", "user"]
    assert sent[2]["content"] == "Use a set here."


async def test_backend_whose_context_window_is_too_small_is_skipped(fake_provider):
    small = backend(
        "small",
        "ollama",
        fake_provider.base_url("ollama", "small"),
        context_window=300,
        max_output_tokens=100,
    )
    big = backend("big", "openai", fake_provider.base_url("openai", "big"))
    fake_provider.default("big", Reply(text="read it all"))
    async with Engine(rules_with(small, big)) as engine:
        outcome = await engine.run(_job("x" * 4000))
    assert outcome.backend == "big"
    assert fake_provider.requests_to("small") == []


async def test_long_history_is_trimmed_to_the_context_window_keeping_system_and_newest(
    fake_provider,
):
    cfg = backend(
        "ol",
        "ollama",
        fake_provider.base_url("ollama", "ol"),
        context_window=400,
        max_output_tokens=100,
    )
    history = [Message("system", "SYSTEM PROMPT")]
    for i in range(30):
        history += [
            Message("user", f"question {i} " + "q" * 60),
            Message("assistant", f"answer {i} " + "a" * 60),
        ]
    history.append(Message("user", "the newest question"))
    async with Engine(rules_with(cfg)) as engine:
        await engine.run(Job(messages=history, tier="feature"))
    sent = fake_provider.requests_to("ol")[0].body["messages"]
    assert sent[0] == {"role": "system", "content": "SYSTEM PROMPT"}
    assert sent[1]["role"] == "user"
    assert sent[-1]["content"] == "the newest question"
    assert 3 < len(sent) < len(history)
    assert "question 29" in sent[-3]["content"]


@pytest.mark.parametrize("wire", ["openai", "anthropic", "gemini", "ollama"])
async def test_requests_reuse_one_pooled_connection(fake_provider, wire):
    fake_provider.default("pooled", Reply(text="answer " * 20, chunk_size=7))
    async with Engine(
        rules_with(backend("pooled", wire, fake_provider.base_url(wire, "pooled")))
    ) as engine:
        for _ in range(3):
            await engine.run(_job())
    ports = {r.client_port for r in fake_provider.requests_to("pooled")}
    assert len(fake_provider.requests_to("pooled")) == 3
    assert len(ports) == 1  # the stream was read to its end, so the connection went back


async def test_short_retry_after_on_the_last_backend_is_waited_out_once(fake_provider):
    only = backend("only", "openai", fake_provider.base_url("openai", "only"))
    fake_provider.reply("only", Reply(status=429, headers={"retry-after-ms": "200"}))
    fake_provider.default("only", Reply(text="after the wait"))
    async with Engine(rules_with(only)) as engine:
        outcome = await engine.run(_job())
    assert outcome.text == "after the wait"
    assert [a.outcome for a in outcome.attempts] == ["rate_limit", "ok"]
    assert engine.health.blocked_reason("only") is None


async def test_long_retry_after_is_not_waited_for(fake_provider):
    only = backend("only", "openai", fake_provider.base_url("openai", "only"))
    fake_provider.default("only", Reply(status=429, headers={"retry-after": "60"}))
    async with Engine(rules_with(only)) as engine:
        with pytest.raises(EngineError) as info:
            await engine.run(_job())
    assert len(fake_provider.requests_to("only")) == 1
    assert "retry after 60 s" in str(info.value)
