"""Cooldowns outlive the process: a backend cooled down by one `ask` is skipped by the next.

Health keeps them in `health.json` in the data directory (wall-clock times), so separate
`modelrouter ask` runs and the LSP server see each other's cooldowns.
"""

from __future__ import annotations

import json
import logging
import stat

import pytest
from modelrouter.backends.base import BackendError
from modelrouter.engine import Engine
from modelrouter.health import HEALTH_FILE, Health
from modelrouter.paths import data_dir
from modelrouter.rules import default_rules_path, load_rules
from support.cli import ask_rules, run_modelrouter
from support.fakes.provider import Reply


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _pair(mono: float = 500.0, wall: float = 1_800_000_000.0):
    """A monotonic and a wall clock that move together."""
    return Clock(mono), Clock(wall)


def _advance(seconds: float, *clocks: Clock) -> None:
    for clock in clocks:
        clock.now += seconds


RATE_LIMITED = BackendError("rate_limit", "429", status=429, retry_after=30)


def test_a_cooldown_is_seen_by_a_new_health_with_the_same_file(tmp_path):
    path = tmp_path / "data" / HEALTH_FILE
    mono, wall = _pair()
    first = Health(mono, path=path, wall=wall)
    assert first.record_failure("primary", RATE_LIMITED) == 30
    first.record_failure("other", BackendError("connect", "refused"))

    # Another process: its own monotonic clock (different origin), the same wall clock.
    _advance(5, mono, wall)
    second = Health(Clock(9.0), path=path, wall=wall)
    assert second.blocked_reason("primary") == "cooling down for 25 s (HTTP 429)"
    assert second.cooldown_left("primary") == pytest.approx(25)
    assert "connection failed" in second.blocked_reason("other")

    on_disk = json.loads(path.read_text())
    assert on_disk["primary"] == {
        "until": 1_800_000_030.0,
        "reason": "HTTP 429",
        "failures": 1,
    }
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == [HEALTH_FILE]  # no temp files left


def test_expired_cooldowns_are_not_loaded_and_are_dropped_from_the_file(tmp_path):
    path = tmp_path / HEALTH_FILE
    mono, wall = _pair()
    health = Health(mono, path=path, wall=wall)
    health.record_failure("primary", RATE_LIMITED)  # 30 s
    health.record_failure("slow", BackendError("connect", "refused"))  # 30 s, failures 1
    health.record_failure("quick", BackendError("stream", "cut"))  # 10 s

    _advance(20, wall)  # time passed while no process ran
    later = Health(Clock(0.0), path=path, wall=wall)
    assert later.blocked_reason("quick") is None
    assert later.blocked_reason("primary") == "cooling down for 10 s (HTTP 429)"

    later.record_failure("new", RATE_LIMITED)  # any write drops expired entries
    assert sorted(json.loads(path.read_text())) == ["new", "primary", "slow"]


def test_a_success_closes_the_breaker_for_every_process(tmp_path):
    path = tmp_path / HEALTH_FILE
    mono, wall = _pair()
    server = Health(mono, path=path, wall=wall)
    server.record_failure("primary", RATE_LIMITED)

    ask = Health(Clock(0.0), path=path, wall=wall)
    assert ask.blocked_reason("primary")
    ask.record_success("primary")
    assert json.loads(path.read_text()) == {}

    # The long-running process notices the change on its next look (at most once a second).
    assert server.blocked_reason("primary")
    _advance(1.5, mono, wall)
    server.refresh()
    assert server.blocked_reason("primary") is None


def test_refresh_picks_up_another_process_cooldown_at_most_once_a_second(tmp_path):
    path = tmp_path / HEALTH_FILE
    mono, wall = _pair()
    server = Health(mono, path=path, wall=wall)
    Health(Clock(0.0), path=path, wall=wall).record_failure("primary", RATE_LIMITED)

    server.refresh()  # less than a second since the last look: no stat, no read
    assert server.blocked_reason("primary") is None
    _advance(1.0, mono, wall)
    server.refresh()
    assert server.blocked_reason("primary") == "cooling down for 29 s (HTTP 429)"


def test_writes_keep_cooldowns_other_processes_wrote(tmp_path):
    path = tmp_path / HEALTH_FILE
    mono, wall = _pair()
    one = Health(mono, path=path, wall=wall)
    two = Health(Clock(0.0), path=path, wall=wall)
    one.record_failure("a", RATE_LIMITED)
    two.record_failure("b", RATE_LIMITED)  # two never loaded "a" but must not drop it
    assert sorted(json.loads(path.read_text())) == ["a", "b"]
    assert two.blocked_reason("a")  # and it learned of it while writing


@pytest.mark.parametrize(
    "content",
    [
        b"{not json",
        b"\xff\xfe garbage",
        b"[1, 2, 3]",
        b'{"primary": {"until": "soon"}, "b": 7, "c": {"until": Infinity}}',
    ],
)
def test_a_corrupt_file_is_tolerated_and_replaced(tmp_path, caplog, content):
    path = tmp_path / HEALTH_FILE
    path.write_bytes(content)
    mono, wall = _pair()
    with caplog.at_level(logging.WARNING, logger="modelrouter.health"):
        health = Health(mono, path=path, wall=wall)
        assert health.blocked_reason("primary") is None
        health.record_failure("primary", RATE_LIMITED)
        health.record_failure("primary", RATE_LIMITED)
    assert health.blocked_reason("primary")
    assert len([r for r in caplog.records if r.levelno >= logging.WARNING]) <= 1
    assert list(json.loads(path.read_text())) == ["primary"]  # a good file replaced it


def test_an_unwritable_data_dir_degrades_to_memory_with_one_warning(tmp_path, caplog):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")  # the data dir cannot be created, even by root
    mono, wall = _pair()
    with caplog.at_level(logging.WARNING, logger="modelrouter.health"):
        health = Health(mono, path=blocker / "data" / HEALTH_FILE, wall=wall)
        health.record_failure("a", RATE_LIMITED)
        health.record_failure("b", BackendError("connect", "refused"))
        health.record_success("a")
        _advance(2, mono, wall)
        health.refresh()
    assert health.blocked_reason("a") is None
    assert "connection failed" in health.blocked_reason("b")
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1
    assert "kept in memory only" in warnings[0].getMessage()
    assert health.path is None


def test_a_plain_health_stays_in_memory_and_the_engine_shares_by_default():
    assert Health().path is None
    rules = load_rules(default_rules_path())
    engine = Engine(rules, health=Health())
    assert engine.health.path is None
    assert Engine(rules).health.path == data_dir() / HEALTH_FILE


def _ask(*args: str):
    return run_modelrouter("ask", *args, env={"HOME": "/tmp"})


def test_the_next_ask_skips_a_backend_the_previous_ask_cooled_down(tmp_path, fake_provider):
    fake_provider.default("primary", Reply(status=429, headers={"retry-after": "30"}))
    fake_provider.default("fallback", Reply(text="from the fallback"))
    rules = ask_rules(tmp_path, fake_provider)

    first = _ask("say hi", "--rules", rules)
    assert first.returncode == 0, first.stderr
    assert first.stdout == "from the fallback\n"
    assert "primary rate_limit" in first.stderr
    assert len(fake_provider.requests_to("primary")) == 1

    second = _ask("say hi again", "--rules", rules)
    assert second.returncode == 0, second.stderr
    assert second.stdout == "from the fallback\n"
    assert len(fake_provider.requests_to("primary")) == 1  # not contacted at all
    assert len(fake_provider.requests_to("fallback")) == 2
    assert "skipped: primary: cooling down for" in second.stderr
    assert "(HTTP 429)" in second.stderr

    on_disk = json.loads((data_dir() / HEALTH_FILE).read_text())
    assert on_disk["primary"]["reason"] == "HTTP 429"

    # `route` (which sends nothing) shows the same cooldown as its skip reason.
    shown = run_modelrouter("route", "say hi", "--rules", rules, "--json", env={"HOME": "/tmp"})
    assert shown.returncode == 0, shown.stderr
    skipped = json.loads(shown.stdout)["skipped"]
    assert [s["name"] for s in skipped] == ["primary"]
    assert skipped[0]["reason"].startswith("cooling down for ")
