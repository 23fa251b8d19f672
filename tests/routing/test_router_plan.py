"""The router decision: a tier's backends in order, unusable ones skipped with the reason."""

from __future__ import annotations

import pytest
from modelrouter.backends import unusable_reason
from modelrouter.routing.plan import plan
from modelrouter.rules import default_rules_path, load_rules


class Blocked:
    def __init__(self, **reasons: str):
        self.reasons = reasons

    def blocked_reason(self, name: str) -> str | None:
        return self.reasons.get(name)


@pytest.fixture
def rules(monkeypatch):
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
    monkeypatch.setenv("PATH", "/nonexistent")
    return load_rules(default_rules_path())


def _embedded_expected(rules) -> list[str]:
    # The embedded model is usable only where the `local` extra is installed.
    return [] if unusable_reason(rules.backends["embedded"]) else ["embedded"]


def test_missing_key_is_skipped_with_reason(rules):
    p = plan(rules, "trivial")
    assert [b.name for b in p.candidates] == ["local", *_embedded_expected(rules)]
    assert (p.skipped[0].backend, p.skipped[0].reason) == ("gemini", "set GEMINI_API_KEY")


def test_cli_not_on_path_is_skipped(rules):
    p = plan(rules, "debug")
    assert [b.name for b in p.candidates] == ["claude"]
    assert p.skipped[0].backend == "codex"
    assert "not found on PATH: codex" in p.skipped[0].reason


def test_health_and_budget_block(rules):
    p = plan(rules, "architecture", health=Blocked(claude="cooling down 30s"))
    assert p.candidates == [] and p.skipped[0].reason == "cooling down 30s"
    p = plan(rules, "feature", budget=Blocked(claude="daily budget $2.00 spent"))
    assert p.why_empty() == "gemini: set GEMINI_API_KEY; claude: daily budget $2.00 spent"


def test_local_only_keeps_local_backends(rules, monkeypatch):
    monkeypatch.setenv("GEMINI_API_KEY", "k")
    p = plan(rules, "trivial", local_only=True)
    assert [b.name for b in p.candidates] == ["local", *_embedded_expected(rules)]
    assert "local" in p.skipped[0].reason and p.skipped[0].backend == "gemini"


def test_unknown_tier(rules):
    with pytest.raises(KeyError):
        plan(rules, "galaxy-brain")
