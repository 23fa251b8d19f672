"""Backend health: a circuit breaker with cooldowns, fed by failures and rate-limit headers.

A backend that failed in a way a later request may not (refused connection, timeout, 429,
overload, a broken stream) is put in a cooldown, so the next request skips it at once
instead of waiting on it again. Repeated failures double the cooldown. Rate-limit headers
on successful replies cool a backend down *before* it starts answering 429.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

from modelrouter.backends.base import BackendError

# First cooldown per error kind, seconds; doubled per consecutive failure up to MAX_COOLDOWN.
BASE_COOLDOWN = {
    "connect": 30.0,
    "timeout": 30.0,
    "rate_limit": 20.0,
    "overloaded": 15.0,
    "stream": 10.0,
    "process": 10.0,
}
MAX_COOLDOWN = 600.0


@dataclass
class _State:
    until: float = 0.0  # monotonic time the cooldown ends
    reason: str = ""
    failures: int = 0  # consecutive


class Health:
    """Per-backend cooldowns. `blocked_reason(name)` is what the router asks."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._states: dict[str, _State] = {}

    def blocked_reason(self, name: str) -> str | None:
        """Why `name` must be skipped right now, or None when it may be tried."""
        state = self._states.get(name)
        if state is None:
            return None
        left = state.until - self._clock()
        if left <= 0:
            return None
        return f"cooling down for {_fmt_seconds(left)} ({state.reason})"

    def cooldown_left(self, name: str) -> float:
        """Seconds until `name` may be tried again; 0 when it may be tried now."""
        state = self._states.get(name)
        return max(0.0, state.until - self._clock()) if state else 0.0

    def record_failure(self, name: str, error: BackendError) -> float:
        """Cool `name` down after `error`; returns the cooldown in seconds (0: none).

        Errors retrying cannot fix (auth, bad request) cause no cooldown: they are reported
        on every request until the configuration is fixed, never hidden behind a timer.
        """
        base = BASE_COOLDOWN.get(error.kind)
        if base is None:
            return 0.0
        state = self._states.setdefault(name, _State())
        state.failures += 1
        seconds = min(MAX_COOLDOWN, base * 2 ** (state.failures - 1))
        if error.retry_after is not None:
            seconds = max(error.retry_after, 0.0)
        elif error.kind == "rate_limit":
            # No retry-after: the rate-limit headers of the 429 say when the limit resets.
            resets = [reset for _, left, reset in _rate_limits(error.headers) if left <= 0]
            seconds = max([r for r in resets if r is not None], default=seconds)
        self._block(state, seconds, _short_reason(error))
        return seconds

    def record_success(self, name: str, headers: dict[str, str] | None = None) -> None:
        """Close the breaker for `name`; cool it down early if its rate-limit headers say so."""
        state = self._states.get(name)
        if state is not None:
            state.failures = 0
            state.until = 0.0
        if headers:
            self.observe_headers(name, headers)

    def observe_headers(self, name: str, headers: dict[str, str]) -> float:
        """Cool down until the limit resets when a rate-limit header shows none left.

        Reads OpenAI-style `x-ratelimit-remaining-*` / `x-ratelimit-reset-*` and Anthropic's
        `anthropic-ratelimit-*-remaining` / `-reset`. Returns the cooldown in seconds (0: none).
        """
        wait = 0.0
        exhausted: list[str] = []
        for what, remaining, reset in _rate_limits(headers):
            if remaining <= 0 and reset is not None and reset > wait:
                wait = reset
                exhausted.append(what)
            elif remaining <= 0:
                exhausted.append(what)
                wait = max(wait, BASE_COOLDOWN["rate_limit"])
        if wait <= 0:
            return 0.0
        state = self._states.setdefault(name, _State())
        self._block(state, wait, f"{' and '.join(exhausted)} rate limit used up")
        return wait

    def reset(self, name: str | None = None) -> None:
        """Forget cooldowns (all of them, or one backend's), e.g. after a rules reload."""
        if name is None:
            self._states.clear()
        else:
            self._states.pop(name, None)

    def _block(self, state: _State, seconds: float, reason: str) -> None:
        until = self._clock() + seconds
        if until >= state.until:
            state.until = until
            state.reason = reason


def _short_reason(error: BackendError) -> str:
    if error.status is not None:
        return f"HTTP {error.status}"
    return {"connect": "connection failed", "timeout": "timed out"}.get(
        error.kind, f"{error.kind} error"
    )


def _fmt_seconds(seconds: float) -> str:
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    return f"{round(seconds / 60)} min"


def _rate_limits(headers: dict[str, str]) -> list[tuple[str, float, float | None]]:
    """(what, remaining, seconds until reset) for every limit the headers describe."""
    found: list[tuple[str, float, float | None]] = []
    lower = {k.lower(): v for k, v in headers.items()}
    for what in ("requests", "tokens", "input-tokens", "output-tokens"):
        # Anthropic: anthropic-ratelimit-requests-remaining / -reset (RFC 3339 time)
        remaining = _number(lower.get(f"anthropic-ratelimit-{what}-remaining"))
        if remaining is not None:
            reset = _until_timestamp(lower.get(f"anthropic-ratelimit-{what}-reset"))
            found.append((what, remaining, reset))
        # OpenAI and compatible: x-ratelimit-remaining-requests / x-ratelimit-reset-requests
        remaining = _number(lower.get(f"x-ratelimit-remaining-{what}"))
        if remaining is not None:
            reset = _duration(lower.get(f"x-ratelimit-reset-{what}"))
            found.append((what, remaining, reset))
    return found


def _number(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return float(value.strip())
    except ValueError:
        return None


def _duration(value: str | None) -> float | None:
    """Seconds in an OpenAI-style duration: "1s", "6m0s", "20ms", "1h2m3.5s", or a number."""
    if not value:
        return None
    text = value.strip()
    plain = _number(text)
    if plain is not None:
        return plain
    total = 0.0
    number = ""
    i = 0
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
    while i < len(text):
        ch = text[i]
        if ch.isdigit() or ch == ".":
            number += ch
            i += 1
            continue
        unit = "ms" if text.startswith("ms", i) else ch
        if unit not in units or not number:
            return None
        total += float(number) * units[unit]
        number = ""
        i += len(unit)
    return total if not number else None


def _until_timestamp(value: str | None) -> float | None:
    """Seconds from now until an RFC 3339 / HTTP date, or None."""
    if not value:
        return None
    from datetime import datetime, timezone

    try:
        when = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


def parse_retry_after(headers: dict[str, str]) -> float | None:
    """Seconds to wait from `retry-after-ms` / `retry-after` (seconds or an HTTP date)."""
    lower = {k.lower(): v for k, v in headers.items()}
    ms = _number(lower.get("retry-after-ms"))
    if ms is not None:
        return max(0.0, ms / 1000)
    value = lower.get("retry-after")
    if value is None:
        return None
    seconds = _number(value)
    if seconds is not None:
        return max(0.0, seconds)
    return _until_timestamp(value)
