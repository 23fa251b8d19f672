"""The rule classifier: pattern kinds, filters, scoring, and the known traps."""

from __future__ import annotations

from pathlib import Path

import pytest
from modelrouter.classify import Classification, classify, classify_rules
from modelrouter.rules import default_rules_path, load_rules
from modelrouter.tokens import estimate_tokens

RULES = """\
backends:
  b: {type: ollama}
tiers:
  trivial: [b]
  feature: [b]
  debug: [b]
  architecture: [b]
default_tier: feature
classifier: {mode: rules}  # these tests pin down the rule classifier itself
routes:
  - {name: typos, tier: trivial, weight: 3, max_tokens: 300, patterns: [typo*, "fix typo"]}
  - {name: arch, tier: architecture, weight: 2, patterns: [architect*, "^design"]}
  - {name: fix, tier: debug, weight: 1, patterns: [fix, "re:\\\\bstack ?trace\\\\b"]}
  - {name: rust-unsafe, tier: debug, weight: 5, languages: [rust], patterns: [unsafe]}
  - {name: docs-path, tier: trivial, weight: 2, paths: ["docs/**/*.md", "README*"]}
  - {name: cjk, tier: debug, weight: 2, patterns: ["修复"]}
  - {name: symbols, tier: feature, weight: 2, patterns: ["c++"]}
actions: {}
"""


@pytest.fixture
def rules(tmp_path: Path):
    path = tmp_path / "rules.yaml"
    path.write_text(RULES, encoding="utf-8")
    return load_rules(path)


@pytest.fixture(scope="module")
def shipped():
    return load_rules(default_rules_path())


def test_phrase_is_case_insensitive_and_word_bounded(rules):
    assert classify(rules, "Please FIX this").tier == "debug"
    # "prefix" contains "fix" but not as a word
    result = classify(rules, "add a prefix")
    assert result.source == "default" and result.tier == "feature"


def test_prefix_wildcard_and_anchor(rules):
    assert classify(rules, "typos everywhere").tier == "trivial"
    assert classify(rules, "Design the storage layer").tier == "architecture"
    # "^design" only counts as the first word (after a scope prefix)
    assert classify(rules, "storage: design it").tier == "architecture"
    assert classify(rules, "improve the design").source == "default"


def test_regex_pattern(rules):
    result = classify(rules, "here is the StackTrace")
    assert result.tier == "debug"
    assert result.matched[0].pattern.startswith("re:")


def test_spaceless_scripts_match_as_substrings(rules):
    assert classify(rules, "修复登录问题").tier == "debug"


def test_symbol_phrases(rules):
    assert classify(rules, "port this to C++ please").tier == "feature"
    assert classify(rules, "port this to C please").source == "default"


def test_language_filter(rules):
    assert classify(rules, "remove unsafe block", language="rust").tier == "debug"
    assert classify(rules, "remove unsafe block", language="python").source == "default"
    assert classify(rules, "remove unsafe block").source == "default"


def test_path_filter_without_patterns(rules):
    assert classify(rules, "tidy this", path="docs/guide/intro.md").tier == "trivial"
    assert classify(rules, "tidy this", path="docs/intro.md").tier == "trivial"
    assert classify(rules, "tidy this", path="/abs/project/README.rst").tier == "trivial"
    assert classify(rules, "tidy this", path="src/main.rs").source == "default"


def test_heaviest_tier_wins_and_reason_lists_the_rest(rules):
    result = classify(rules, "architect a fix for this typo")
    assert isinstance(result, Classification)
    assert result.tier == "trivial"
    assert result.scores == {"trivial": 3.0, "architecture": 2.0, "debug": 1.0}
    assert "typo" in result.reason and "architect" in result.reason and "fix" in result.reason
    assert 0 < result.confidence < 1


def test_tie_goes_to_the_more_capable_tier(rules):
    # trivial 3 (typo) vs debug 1 + ... ; make a tie: architecture 2 vs docs-path trivial 2
    result = classify(rules, "architecture", path="README.md")
    assert result.scores["trivial"] == result.scores["architecture"]
    assert result.tier == "architecture"


def test_max_tokens_drops_route_for_long_requests(rules):
    long = "fix typo in:\n" + "x = compute(a, b)\n" * 300
    assert estimate_tokens(long) > 300
    result = classify(rules, long)
    assert result.tier == "debug"
    assert classify(rules, "fix typo", selection_tokens=1000).tier == "debug"


def test_confidence_grows_with_agreement(rules):
    alone = classify(rules, "typo").confidence
    contested = classify(rules, "architect a typo").confidence
    assert alone > contested


def test_public_classify_matches_rule_classifier(rules):
    a = classify(rules, "fix the stack trace", language="rust", path="src/lib.rs")
    b = classify_rules(rules, "fix the stack trace", language="rust", path="src/lib.rs")
    assert (a.tier, a.confidence, a.reason) == (b.tier, b.confidence, b.reason)


# The traps every router must survive, on the shipped rules.
@pytest.mark.parametrize(
    ("text", "tier"),
    [
        ("architect a fix for this typo", "trivial"),
        ("debug print statements removal", "trivial"),
        ("Fix typo in README", "trivial"),
        ("Bump version to 2.4.1", "trivial"),
        ("add a --verbose flag to the CLI", "feature"),
        ("Support for the Partitioned cookie attribute", "feature"),
        ("why is this test failing with a NullPointerException", "debug"),
        ("fix memory leak when the socket closes", "debug"),
        ("write unit tests for the parser", "debug"),
        ("Redesign the configuration system", "architecture"),
        ("Migrate from GraphQL to REST", "architecture"),
        ("refactor the backend into a modular structure", "architecture"),
    ],
)
def test_shipped_rules_route_typical_requests(shipped, text, tier):
    assert classify_rules(shipped, text).tier == tier
    assert classify(shipped, text).tier == tier


def test_long_request_with_pasted_code_is_not_trivial(shipped):
    code = "def handler(event):\n    value = event['x']\n    return value * 2\n" * 200
    assert classify_rules(shipped, "fix typo\n" + code).tier != "trivial"
    result = classify(shipped, "fix typo\n" + code)
    assert result.tier != "trivial"
    assert shipped.tier_rank(result.tier) > shipped.tier_rank("trivial")


def test_scan_limit_keeps_late_words_out(shipped):
    text = "rename this variable " + "x " * 5000 + "redesign architecture"
    assert classify(shipped, text).matched[0].pattern != "architect*"
