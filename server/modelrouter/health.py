"""Backend health: a circuit breaker with cooldowns, fed by failures and rate-limit headers.

A backend that failed in a way a later request may not (refused connection, timeout, 429,
overload, a broken stream) is put in a cooldown, so the next request skips it at once
instead of waiting on it again. Repeated failures double the cooldown. Rate-limit headers
on successful replies cool a backend down *before* it starts answering 429.

`Health.persistent()` (what the Engine uses) also keeps the cooldowns in `health.json` in
the data directory, so separate processes — one `modelrouter ask` after another, the LSP
server — skip a backend another one cooled down. In memory times are monotonic; the file
holds wall-clock times. The file is read once at start and again (at most once a second)
when it changed; it is written, atomically, when a cooldown starts or a breaker closes. A
file that cannot be read or written costs one warning and leaves the cooldowns in memory.

With a PostgreSQL ledger (`Health.for_ledger`) the cooldowns are shared through its
`cooldowns` table instead, so every proxy process on every host sees a cooldown another one
started within `SharedCooldowns.POLL_S` seconds: a background thread reads the table, writes
go through the ledger's operations thread, and routing never waits on the database.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from modelrouter.ledger import Ledger

from modelrouter.backends.base import BackendError
from modelrouter.errors import LedgerError

log = logging.getLogger(__name__)

HEALTH_FILE = "health.json"
MAX_FILE_COOLDOWN = 86400.0  # a longer (or non-finite) cooldown in the file is ignored
REFRESH_INTERVAL = 1.0  # seconds between checks of the file for other processes' changes

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
    """Per-backend cooldowns. `blocked_reason(name)` is what the router asks.

    `Health()` keeps them in memory only; `Health(path=...)` / `Health.persistent()` also
    shares them with other processes through a small JSON file.
    """

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        *,
        path: Path | None = None,
        wall: Callable[[], float] = time.time,
        shared: SharedCooldowns | None = None,
    ) -> None:
        self._clock = clock
        self._wall = wall
        self._states: dict[str, _State] = {}
        self._path = path
        self._mtime: int | None = None  # st_mtime_ns of the file as last read or written
        self._checked = 0.0  # clock() at the last look at the file
        self._warned = False
        self._shared = shared
        self._shared_seen = -1  # the shared snapshot generation last taken
        if path is not None:
            self._checked = clock()
            self._load()

    @classmethod
    def persistent(cls) -> Health:
        """Cooldowns shared through `health.json` in the data directory."""
        from modelrouter.paths import data_dir

        return cls(path=data_dir() / HEALTH_FILE)

    @classmethod
    def for_ledger(cls, ledger: Ledger | None) -> Health:
        """Cooldowns shared through a PostgreSQL ledger's database, else `persistent()`."""
        if ledger is not None and ledger.kind == "postgresql":
            shared = SharedCooldowns(ledger)
            shared.prime()  # one read now, so the first plan sees the others' cooldowns
            return cls(shared=shared)
        return cls.persistent()

    @property
    def path(self) -> Path | None:
        """The file cooldowns are shared through, or None (in memory only)."""
        return self._path

    def refresh(self) -> None:
        """Pick up cooldowns other processes wrote since the last look (at most once a second).

        Cheap: a clock read, and a `stat` when a second has passed (with a database: a
        look at the last snapshot its reader thread took). Never raises.
        """
        if self._shared is not None:
            generation, found = self._shared.snapshot()
            if generation != self._shared_seen:
                self._shared_seen = generation
                self._adopt(self._to_states(found))
            return
        if self._path is None:
            return
        now = self._clock()
        if now - self._checked < REFRESH_INTERVAL:
            return
        self._checked = now
        try:
            mtime = self._path.stat().st_mtime_ns
        except FileNotFoundError:
            return
        except OSError as exc:
            self._warn("cannot read", exc)
            return
        if mtime != self._mtime:
            self._load()

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
        self._block(name, state, seconds, _short_reason(error))
        return seconds

    def record_success(self, name: str, headers: dict[str, str] | None = None) -> None:
        """Close the breaker for `name`; cool it down early if its rate-limit headers say so."""
        state = self._states.get(name)
        if state is not None:
            del self._states[name]
            if state.failures or state.until > self._clock():
                self._save(name)
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
        self._block(name, state, wait, f"{' and '.join(exhausted)} rate limit used up")
        return wait

    def reset(self, name: str | None = None) -> None:
        """Forget cooldowns (all of them, or one backend's), e.g. after a rules reload."""
        if name is None:
            names = list(self._states)
            self._states.clear()
        else:
            names = [name] if self._states.pop(name, None) else []
        if names:
            self._save(*names)

    def _block(self, name: str, state: _State, seconds: float, reason: str) -> None:
        until = self._clock() + seconds
        if until >= state.until:
            state.until = until
            state.reason = reason
        self._save(name)

    # --- the shared file -------------------------------------------------------------

    def _read(self) -> dict[str, _State] | None:
        """The file's live cooldowns (monotonic times), {} when absent, None when unusable."""
        assert self._path is not None
        try:
            with open(self._path, "rb") as f:
                mtime = os.fstat(f.fileno()).st_mtime_ns
                raw = json.loads(f.read() or b"{}")
        except FileNotFoundError:
            self._mtime = None
            return {}
        except (OSError, ValueError) as exc:
            self._warn("cannot read", exc)
            return None
        self._mtime = mtime
        if not isinstance(raw, dict):
            self._warn("ignored", ValueError("not a JSON object"))
            return None
        return self._to_states(raw)

    def _to_states(self, raw: dict) -> dict[str, _State]:
        """Live cooldowns (monotonic) from {name: {until (wall), reason, failures}}."""
        states: dict[str, _State] = {}
        offset = self._clock() - self._wall()
        wall_now = self._wall()
        for name, entry in raw.items():
            try:
                until = float(entry["until"])
                reason = str(entry.get("reason", ""))
                failures = int(entry.get("failures", 0))
            except (TypeError, KeyError, ValueError, AttributeError):
                continue  # one bad entry does not spoil the rest
            if wall_now < until <= wall_now + MAX_FILE_COOLDOWN:
                states[str(name)] = _State(until + offset, reason, max(0, failures))
        return states

    def _load(self) -> None:
        """Take the live cooldowns from the file."""
        found = self._read()
        if found is not None:
            self._adopt(found)

    def _adopt(self, found: dict[str, _State]) -> None:
        # The file is the shared truth for live cooldowns: one missing from it was ended
        # by a success elsewhere. Expired ones stay in memory for their failure count.
        now = self._clock()
        for name, mine in self._states.items():
            if name not in found and mine.until <= now:
                found[name] = mine
        self._states = found

    def _save(self, *names: str) -> None:
        """Write this process's state for `names` into the file, keeping other backends'."""
        if self._shared is not None:
            offset = self._wall() - self._clock()
            for name in names:
                state = self._states.get(name)
                if state is None:
                    self._shared.put(name, None)
                else:
                    self._shared.put(name, (state.until + offset, state.reason, state.failures))
            return
        if self._path is None:
            return
        current = self._read()
        merged = dict(current or {})  # an unreadable file is replaced by a good one
        for name, theirs in merged.items():  # adopt what other processes wrote meanwhile
            mine = self._states.get(name)
            if name not in names and (mine is None or theirs.until > mine.until):
                self._states[name] = theirs
        for name in names:
            state = self._states.get(name)
            if state is None:
                merged.pop(name, None)
            else:
                merged[name] = state
        now = self._clock()
        offset = self._wall() - now
        payload = {
            name: {
                "until": round(state.until + offset, 3),
                "reason": state.reason,
                "failures": state.failures,
            }
            for name, state in sorted(merged.items())
            if state.until > now
        }
        try:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".health-", suffix=".tmp", dir=self._path.parent)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as f:  # mkstemp: mode 0600
                    json.dump(payload, f, indent=1)
                os.replace(tmp, self._path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
            self._mtime = self._path.stat().st_mtime_ns
        except OSError as exc:
            self._warn("cannot write", exc)
            self._path = None  # keep going in memory; one warning is enough

    def _warn(self, what: str, exc: Exception) -> None:
        if not self._warned:
            self._warned = True
            log.warning(
                "backend cooldowns file %s %s (%s); cooldowns are kept in memory only",
                self._path,
                what,
                exc,
            )


class SharedCooldowns:
    """Cooldowns in a ledger database's `cooldowns` table, read by a background thread.

    `snapshot()` and `put()` never block: the thread re-reads the table every POLL_S
    seconds while cooldowns are being asked for (it stops after IDLE_S without a question),
    and writes run in the ledger's operations thread. A database that is away leaves the
    last snapshot and this process's own cooldowns in place.
    """

    POLL_S = 0.5
    IDLE_S = 30.0

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self._lock = threading.Lock()
        self._generation = 0
        self._found: dict[str, dict] = {}
        self._asked = time.monotonic()
        self._thread: threading.Thread | None = None

    def snapshot(self) -> tuple[int, dict[str, dict]]:
        """(generation, {backend: {until, reason, failures}}) as last read."""
        self._asked = time.monotonic()
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._poll, name="modelrouter-cooldowns", daemon=True
                )
                self._thread.start()
            return self._generation, self._found

    def prime(self) -> None:
        """Read the table once in the caller's thread (a database that is away: skipped)."""
        try:
            found = self.read_now()
        except LedgerError as exc:
            log.warning("shared cooldowns not read from %s: %s", self.ledger.location, exc)
            return
        with self._lock:
            self._found, self._generation = found, self._generation + 1

    def put(self, backend: str, state: tuple[float, str, int] | None) -> None:
        """Store (until as wall time, reason, failures) for `backend`, or end its cooldown."""
        self.ledger.call(self._write, backend, state)

    def read_now(self) -> dict[str, dict]:
        """The table's live cooldowns, read in the caller's thread (blocks)."""
        rows = self.ledger.query(
            "SELECT backend, until, reason, failures FROM cooldowns WHERE until > ?",
            (time.time(),),
        )
        return {
            r["backend"]: {"until": r["until"], "reason": r["reason"], "failures": r["failures"]}
            for r in rows
        }

    def _poll(self) -> None:
        while time.monotonic() - self._asked < self.IDLE_S:
            try:
                found = self.read_now()
            except LedgerError as exc:
                log.debug("shared cooldowns not read: %s", exc)
            else:
                with self._lock:
                    if found != self._found:
                        self._found = found
                        self._generation += 1
            time.sleep(self.POLL_S)

    def _write(self, backend: str, state: tuple[float, str, int] | None) -> None:
        try:
            with self.ledger.transaction() as conn:
                if state is None:
                    conn.run("DELETE FROM cooldowns WHERE backend = ?", (backend,))
                else:
                    until, reason, failures = state
                    conn.run(
                        "INSERT INTO cooldowns (backend, until, reason, failures, updated)"
                        " VALUES (?,?,?,?,?) ON CONFLICT (backend) DO UPDATE SET"
                        " until = excluded.until, reason = excluded.reason,"
                        " failures = excluded.failures, updated = excluded.updated",
                        (backend, until, reason, failures, time.time()),
                    )
        except LedgerError as exc:
            log.debug("shared cooldown for %s not written: %s", backend, exc)


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
