"""Health: circuit-breaker cooldowns, retry-after, and rate-limit headers read ahead of time."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from modelrouter.backends.base import BackendError
from modelrouter.health import Health, parse_retry_after


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_repeated_failures_double_the_cooldown_and_success_closes_the_breaker():
    clock = Clock()
    health = Health(clock)
    first = health.record_failure("b", BackendError("connect", "refused"))
    clock.now += first + 0.1
    assert health.blocked_reason("b") is None  # half-open: may be tried again
    second = health.record_failure("b", BackendError("connect", "refused"))
    assert second == 2 * first
    assert "connection failed" in health.blocked_reason("b")
    health.record_success("b")
    assert health.blocked_reason("b") is None
    assert health.record_failure("b", BackendError("connect", "refused")) == first


def test_retry_after_sets_the_cooldown():
    health = Health(Clock())
    seconds = health.record_failure(
        "b", BackendError("rate_limit", "429", status=429, retry_after=42)
    )
    assert seconds == 42
    assert health.blocked_reason("b") == "cooling down for 42 s (HTTP 429)"


@pytest.mark.parametrize("kind", ["auth", "bad_request"])
def test_errors_retrying_cannot_fix_cause_no_cooldown(kind):
    health = Health(Clock())
    assert health.record_failure("b", BackendError(kind, "nope", status=401)) == 0
    assert health.blocked_reason("b") is None


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "6m0s"}, 360),
        ({"x-ratelimit-remaining-tokens": "0", "x-ratelimit-reset-tokens": "1.5s"}, 1.5),
        ({"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "250ms"}, 0.25),
        ({"x-ratelimit-remaining-requests": "17", "x-ratelimit-reset-requests": "6m0s"}, 0),
    ],
)
def test_openai_style_rate_limit_headers(headers, expected):
    health = Health(Clock())
    assert health.observe_headers("b", headers) == pytest.approx(expected)


def test_anthropic_rate_limit_reset_timestamp():
    reset = (datetime.now(timezone.utc) + timedelta(seconds=90)).isoformat().replace("+00:00", "Z")
    health = Health(Clock())
    wait = health.observe_headers(
        "b",
        {"anthropic-ratelimit-tokens-remaining": "0", "anthropic-ratelimit-tokens-reset": reset},
    )
    assert 85 < wait <= 90
    assert "tokens rate limit used up" in health.blocked_reason("b")


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "7"}, 7),
        ({"retry-after-ms": "250"}, 0.25),
        ({}, None),
        ({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, 0.0),
    ],
)
def test_parse_retry_after(headers, expected):
    assert parse_retry_after(headers) == expected


def test_429_without_retry_after_cools_down_until_the_rate_limit_resets():
    health = Health(Clock())
    error = BackendError(
        "rate_limit",
        "429",
        status=429,
        headers={"x-ratelimit-remaining-tokens": "0", "x-ratelimit-reset-tokens": "2m30s"},
    )
    assert health.record_failure("b", error) == 150
