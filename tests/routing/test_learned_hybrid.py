"""The hybrid classifier on the shipped rules and weights: who decides, and the reason says so."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from modelrouter import learned
from modelrouter.classify import classify, classify_rules
from modelrouter.rules import default_rules_path, load_rules

DEV = Path(__file__).resolve().parents[3] / "shared" / "routing" / "dev_routing.jsonl"


@pytest.fixture(scope="module")
def rules():
    return load_rules(default_rules_path())


@pytest.fixture(autouse=True)
def no_personal_model(tmp_path, monkeypatch):
    monkeypatch.setenv("MODELROUTER_DATA_DIR", str(tmp_path / "data"))


def with_classifier(rules, **kw):
    return replace(rules, classifier=replace(rules.classifier, **kw))


def test_shipped_weights_load_and_match_the_default_tiers(rules):
    model = learned.load(learned.shipped_weights_path())
    assert model.tiers == rules.tier_order
    assert model.rule_alpha >= 0 and model.fused_temperature > 0


def test_confident_uncontradicted_rules_decide_alone(rules):
    text = "Bump version to 2.4.1"
    by_rules = classify_rules(rules, text)
    assert by_rules.source == "rules" and set(by_rules.scores) == {"trivial"}
    sure = with_classifier(rules, rule_confidence=by_rules.confidence)
    result = classify(sure, text)
    assert result.source == "rules" and result.tier == by_rules.tier
    assert result.reason.startswith("rules (confidence") and "nothing against" in result.reason


def test_rules_with_evidence_against_them_never_decide_alone(rules):
    text = "Fix typo in README"  # "fix" is evidence for debug as well
    by_rules = classify_rules(rules, text)
    assert len(by_rules.scores) > 1
    result = classify(with_classifier(rules, rule_confidence=0.0), text)
    assert result.source == "learned" and "rules weighed in" in result.reason
    assert "also matched" not in result.reason  # the reason stays short


def test_unsure_rules_hand_over_to_the_learned_model(rules):
    text = "Middleware as structs"  # no keyword says what this is
    result = classify(rules, text)
    assert result.source == "learned"
    assert result.reason.startswith("learned model: ")
    model = learned.default_model()
    assert result.tier in model.tiers


def test_escalation_is_one_tier_up_and_explained(rules):
    eager = with_classifier(rules, escalate_below=0.999, rule_confidence=1.1)
    text = "Allow multiple whitespace between method and pattern"
    calm = with_classifier(rules, escalate_below=0.0, rule_confidence=1.1)
    base = classify(calm, text)
    up = classify(eager, text)
    order = rules.tier_order
    assert order.index(up.tier) >= order.index(base.tier)
    if order.index(base.tier) < len(order) - 1 and up.tier != base.tier:
        assert "escalated to " + up.tier in up.reason


def test_mode_rules_never_consults_the_model(rules):
    only_rules = with_classifier(rules, mode="rules")
    text = "Middleware as structs"
    assert classify(only_rules, text) == classify_rules(rules, text)


def test_mode_learned_ignores_rule_evidence(rules):
    model = learned.default_model()
    text = "Fix typo in README"
    result = classify(with_classifier(rules, mode="learned"), text)
    assert result.source == "learned"
    assert result.tier in model.tiers
    assert "rules weighed in" not in result.reason


def test_long_pasted_code_is_never_trivial(rules):
    text = "tidy this up\n" + "def f(x):\n    return x + 1\n" * 400
    result = classify(with_classifier(rules, rule_confidence=1.1), text)
    assert result.tier != rules.tier_order[0]


def test_broken_weights_fall_back_to_rules_with_the_reason(rules, tmp_path):
    bad = tmp_path / "broken.json"
    bad.write_text("{oops", encoding="utf-8")
    result = classify(with_classifier(rules, weights=str(bad), rule_confidence=1.1), "x y z")
    assert result.source in ("rules", "default")
    assert "learned model unavailable" in result.reason and str(bad) in result.reason


@pytest.mark.skipif(not DEV.is_file(), reason="dev set not present")
def test_hybrid_beats_the_bar_on_the_dev_set(rules):
    rows = [json.loads(line) for line in DEV.read_text(encoding="utf-8").splitlines() if line]
    order = rules.tier_order
    routed = [order.index(classify(rules, r["prompt"]).tier) for r in rows]
    labels = [order.index(r["tier"]) for r in rows]
    accuracy = sum(a == b for a, b in zip(routed, labels, strict=True)) / len(rows)
    under = sum(a < b for a, b in zip(routed, labels, strict=True)) / len(rows)
    assert accuracy >= 0.80 and under <= 0.06, (accuracy, under)
