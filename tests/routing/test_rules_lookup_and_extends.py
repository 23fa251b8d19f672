"""Where rules come from (lookup order) and how `extends` merges by name."""

from __future__ import annotations

from pathlib import Path

import pytest
from modelrouter import rules as rules_mod
from modelrouter.rules import default_rules_path, find_rules_file, load_rules


@pytest.fixture
def no_user_file(monkeypatch, tmp_path):
    monkeypatch.delenv("MODELROUTER_RULES", raising=False)
    monkeypatch.setattr(rules_mod, "user_rules_path", lambda: tmp_path / "no-user" / "rules.yaml")


def test_lookup_order(monkeypatch, tmp_path, no_user_file):
    workspace = tmp_path / "ws"
    workspace.mkdir()
    assert find_rules_file(None, workspace) == default_rules_path()

    user = tmp_path / "user.yaml"
    user.write_text("extends: default\n")
    monkeypatch.setattr(rules_mod, "user_rules_path", lambda: user)
    assert find_rules_file(None, workspace) == user

    local = workspace / ".modelrouter.yaml"
    local.write_text("extends: default\n")
    assert find_rules_file(None, workspace) == local

    env = tmp_path / "env.yaml"
    monkeypatch.setenv("MODELROUTER_RULES", str(env))
    assert find_rules_file(None, workspace) == env
    assert find_rules_file("explicit.yaml", workspace) == Path("explicit.yaml")


def test_extends_default_merges_by_name(tmp_path):
    base = load_rules(default_rules_path())
    child = tmp_path / "mine.yaml"
    child.write_text(
        "extends: default\n"
        "backends:\n"
        "  claude: {model: claude-sonnet-4-5, price: {input: 3, output: 15}}\n"
        "  mini: {type: openai, model: gpt-5-mini, api_key_env: OPENAI_API_KEY}\n"
        "  codex: null\n"
        "tiers:\n"
        "  debug: [claude]\n"
        "  architecture: [claude, mini]\n"
        "routes:\n"
        "  - {name: trivial-sure, tier: trivial, patterns: [nit]}\n"
        "  - {tier: debug, patterns: [heisenbug]}\n"
        "actions:\n"
        "  fix-typo: {tier: feature}\n"
    )
    rules = load_rules(child)
    claude = rules.backends["claude"]
    assert claude.model == "claude-sonnet-4-5"
    assert claude.type == "anthropic" and claude.api_key_env == "ANTHROPIC_API_KEY"
    assert claude.price.input == 3
    assert "codex" not in rules.backends and "mini" in rules.backends
    assert rules.tiers["debug"] == ("claude",)
    assert rules.tiers["trivial"] == base.tiers["trivial"]
    assert len(rules.routes) == len(base.routes) + 1
    replaced = next(r for r in rules.routes if r.name == "trivial-sure")
    assert replaced.patterns == ("nit",) and replaced.file == str(child)
    assert rules.actions["fix-typo"].tier == "feature"
    assert rules.actions["fix-typo"].title == base.actions["fix-typo"].title
    assert set(rules.actions) == set(base.actions)


def test_extends_relative_path(tmp_path):
    (tmp_path / "team").mkdir()
    team = tmp_path / "team" / "team.yaml"
    team.write_text("extends: default\ndefault_tier: feature\n")
    mine = tmp_path / "mine.yaml"
    mine.write_text("extends: team/team.yaml\nclassifier: {mode: rules}\n")
    rules = load_rules(mine)
    assert rules.default_tier == "feature"
    assert rules.classifier.mode == "rules"
    assert (
        rules.classifier.rule_confidence
        == load_rules(default_rules_path()).classifier.rule_confidence
    )


def test_removed_backend_still_in_a_tier_is_an_error(tmp_path):
    child = tmp_path / "mine.yaml"
    child.write_text("extends: default\nbackends:\n  codex: null\n")
    problems = rules_mod.check_rules(child)
    assert problems and all("unknown backend 'codex'" in p.message for p in problems)


def test_circular_extends(tmp_path):
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    a.write_text("extends: b.yaml\n")
    b.write_text("extends: a.yaml\n")
    problems = rules_mod.check_rules(a)
    assert problems and "circular" in problems[0].message
