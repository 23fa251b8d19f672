"""The kinds of mistake the router used to make, as classes of input rather than examples."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from modelrouter.classify import classify, classify_rules
from modelrouter.learned import rules_decide_alone
from modelrouter.rules import RulesError, default_rules_path, load_rules


@pytest.fixture(scope="module")
def shipped():
    return load_rules(default_rules_path())


@pytest.fixture(autouse=True)
def no_personal_model(tmp_path, monkeypatch):
    monkeypatch.setenv("MODELROUTER_DATA_DIR", str(tmp_path / "data"))


FEATURE_VERBS = ["Add", "Support", "Introduce", "Make", "Implement"]
DESIGN_OBJECTS = [
    "a plugin system for the backends",
    "a new concurrency model for the scheduler",
    "distributed locking across services",
    "an event sourcing architecture for orders",
    "role-based access control for every endpoint",
    "sharding of the storage layer",
]


@pytest.mark.parametrize(("verb", "obj"), list(itertools.product(FEATURE_VERBS, DESIGN_OBJECTS)))
def test_a_feature_verb_never_decides_alone_on_a_design_scale_object(shipped, verb, obj):
    text = f"{verb} {obj}"
    by_rules = classify_rules(shipped, text)
    assert "architecture" in by_rules.scores
    assert not rules_decide_alone(by_rules, shipped.classifier.rule_confidence)
    assert classify(shipped, text).source == "learned"


def test_a_route_of_contradictable_words_alone_never_decides(shipped):
    # trivial-likely holds words that also name real work ("format", "use", "update"): a
    # request where only one of them matched goes to the learned model, whatever the word.
    route = next(r for r in shipped.routes if r.name == "trivial-likely")
    plain = [p for p in route.patterns if p.isascii() and p.replace(" ", "").isalpha()]
    alone = 0
    for pattern in plain:
        by_rules = classify_rules(shipped, f"{pattern} the rest of it")
        if [m.route for m in by_rules.matched] == ["trivial-likely"]:
            alone += 1
            assert not rules_decide_alone(by_rules, shipped.classifier.rule_confidence), pattern
    assert alone >= 5


@pytest.mark.parametrize(
    "text",
    [
        "Add Debug impl for the Token type",
        "derive Debug on the Config struct",
        "Set the log level to Debug in the sample config",
        "Link the Architecture Decision Records page from the index",
    ],
)
def test_identifiers_and_names_are_not_intent(shipped, text):
    scores = classify_rules(shipped, text).scores
    assert scores.get("debug", 0) < 2.5 and scores.get("architecture", 0) < 3


@pytest.mark.parametrize(
    ("text", "tier"),
    [
        ("修正 README 中的错别字", "trivial"),
        ("corrige erro de digitação na documentação", "trivial"),
        ("Tippfehler in der Doku behoben", "trivial"),
        ("ドキュメントの誤字を修正", "trivial"),
    ],
)
def test_typo_and_docs_requests_in_other_languages_are_cheap(shipped, text, tier):
    assert classify(shipped, text).tier == tier


def test_kind_patterns_match_every_language_the_lexicon_covers(tmp_path: Path):
    path = tmp_path / "rules.yaml"
    path.write_text(
        "backends: {b: {type: ollama}}\n"
        "tiers: {cheap: [b], strong: [b]}\n"
        "default_tier: cheap\n"
        "classifier: {mode: rules}\n"
        "routes:\n"
        "  - {name: fixes, tier: strong, weight: 2, patterns: ['kind:fix']}\n",
        encoding="utf-8",
    )
    rules = load_rules(path)
    for text in (
        "fix the login",
        "修复登录",
        "corrige o login",
        "behebt den Login",
        "исправить вход",
    ):
        result = classify(rules, text)
        assert result.tier == "strong" and result.matched[0].pattern == "kind:fix", text
    assert classify(rules, "add a login page").source == "default"


def test_an_unknown_kind_is_a_rules_error_naming_the_known_ones(tmp_path: Path):
    path = tmp_path / "rules.yaml"
    path.write_text(
        "backends: {b: {type: ollama}}\n"
        "tiers: {cheap: [b]}\n"
        "default_tier: cheap\n"
        "routes:\n"
        "  - {name: r, tier: cheap, weight: 1, patterns: ['kind:nonsense']}\n",
        encoding="utf-8",
    )
    with pytest.raises(RulesError) as err:
        load_rules(path)
    text = "\n".join(str(p) for p in err.value.problems)
    assert "unknown kind of work 'nonsense'" in text and "wording" in text
