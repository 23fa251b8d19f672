"""Hostile `retry-after` and rate-limit values: every cooldown is finite and capped, the
shared file never holds a non-finite number, and a corrupt file breaks nothing."""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from modelrouter.backends.base import BackendError, Message
from modelrouter.engine import Engine, Job
from modelrouter.health import HEALTH_FILE, MAX_COOLDOWN, Health, parse_retry_after
from support.fakes.provider import Reply
from support.fakes.rules import backend, rules_with

HOSTILE = ["inf", "Infinity", "-inf", "1e309", "NaN", "1e12", "-5", "  99999999999999 ", "0x10"]
FAR_DATE = format_datetime(datetime.now(timezone.utc) + timedelta(days=3650), usegmt=True)


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize("value", [*HOSTILE, FAR_DATE, "Fri, 31 Dec 9999 23:59:59 GMT", "soon"])
def test_retry_after_is_none_or_a_capped_finite_number(value):
    for name in ("retry-after", "retry-after-ms"):
        seconds = parse_retry_after({name: value})
        assert seconds is None or (math.isfinite(seconds) and 0 <= seconds <= MAX_COOLDOWN)


@given(st.text(max_size=40), st.sampled_from(["retry-after", "retry-after-ms"]))
@settings(max_examples=300, deadline=None)
def test_any_retry_after_text_parses_to_none_or_a_capped_number(value, name):
    seconds = parse_retry_after({name: value})
    assert seconds is None or (math.isfinite(seconds) and 0 <= seconds <= MAX_COOLDOWN)


@given(
    st.one_of(
        st.floats(allow_nan=True, allow_infinity=True),
        st.sampled_from([float("inf"), float("nan"), 1e12, -1.0]),
    ),
    st.sampled_from(["rate_limit", "overloaded", "connect", "timeout"]),
)
@settings(max_examples=200, deadline=None)
def test_any_retry_after_gives_a_bounded_cooldown_and_a_readable_reason(retry_after, kind):
    health = Health(Clock())
    seconds = health.record_failure("b", BackendError(kind, "x", retry_after=retry_after))
    assert 0 <= seconds <= MAX_COOLDOWN
    assert health.cooldown_left("b") <= MAX_COOLDOWN
    reason = health.blocked_reason("b")  # formatting it must not raise (OverflowError before)
    assert reason is None or "cooling down" in reason


@pytest.mark.parametrize("value", ["inf", "1e309", "Infinity", "1e12h", "9" * 400 + "s"])
def test_hostile_rate_limit_resets_are_capped(value):
    health = Health(Clock())
    wait = health.observe_headers(
        "b", {"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": value}
    )
    assert 0 < wait <= MAX_COOLDOWN
    assert health.blocked_reason("b")


def test_many_consecutive_failures_do_not_overflow_the_doubling():
    health = Health(Clock())
    for _ in range(1200):
        seconds = health.record_failure("b", BackendError("connect", "refused"))
    assert seconds == MAX_COOLDOWN


@pytest.mark.parametrize("value", ["inf", "Infinity", "1e309", "1e12", "NaN"])
def test_the_shared_file_never_holds_a_non_finite_or_overlong_cooldown(tmp_path, value):
    path = tmp_path / HEALTH_FILE
    health = Health(Clock(), path=path, wall=Clock(1_800_000_000.0))
    retry = parse_retry_after({"retry-after": value})
    health.record_failure("b", BackendError("rate_limit", "429", status=429, retry_after=retry))
    text = path.read_text()
    assert "Infinity" not in text and "NaN" not in text
    for entry in json.loads(text).values():
        assert entry["until"] <= 1_800_000_000.0 + MAX_COOLDOWN


@pytest.mark.parametrize(
    "content",
    [
        '{"b": {"until": Infinity, "failures": Infinity}}',
        '{"b": {"until": 1e308, "failures": 1e400}}',
        '{"b": {"until": NaN}}',
        '{"b": {"until": 1800000100.0, "failures": 100000000000000000000000}}',
        '{"b": {"until": 1800000100.0, "reason": {"x": 1}, "failures": -3}}',
        '{"b": {"until": 9e99}}',
    ],
)
def test_a_hostile_shared_file_is_tolerated(tmp_path, content):
    path = tmp_path / HEALTH_FILE
    path.write_text(content)
    health = Health(Clock(), path=path, wall=Clock(1_800_000_000.0))
    assert health.cooldown_left("b") <= MAX_COOLDOWN
    health.blocked_reason("b")
    health.record_failure("b", BackendError("connect", "refused"))
    assert health.cooldown_left("b") <= MAX_COOLDOWN
    assert "Infinity" not in path.read_text()


@pytest.mark.parametrize("value", ["inf", "Infinity", "1e309"])
async def test_an_infinite_retry_after_does_not_break_later_requests(fake_provider, value):
    fake_provider.default("primary", Reply(status=429, headers={"retry-after": value}))
    fake_provider.default("fallback", Reply(text="fallback answer"))
    primary = backend("primary", "openai", fake_provider.base_url("openai", "primary"))
    fallback = backend("fallback", "openai", fake_provider.base_url("openai", "fallback"))
    job = Job([Message("user", "fix the bug")], tier="feature", reason="test")
    async with Engine(rules_with(primary, fallback)) as engine:
        first = await engine.run(job)
        plan = engine.plan("feature")  # raised OverflowError before
        second = await engine.run(job)
        assert engine.health.cooldown_left("primary") <= MAX_COOLDOWN
        assert engine.health.path is not None
        stored = engine.health.path.read_text()
    assert first.backend == second.backend == "fallback"
    assert [s.backend for s in plan.skipped] == ["primary"]
    assert "cooling down" in plan.skipped[0].reason
    assert "Infinity" not in stored
