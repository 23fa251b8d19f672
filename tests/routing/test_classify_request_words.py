"""Names and code in a request are not read as intent; concepts hold across languages."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from modelrouter.classify import classify_rules
from modelrouter.request_words import concepts, intent_words, scan
from modelrouter.rules import default_rules_path, load_rules

INTENT = ["debug", "test", "architecture", "refactor", "design", "crash", "typo"]


@pytest.fixture(scope="module")
def shipped():
    return load_rules(default_rules_path())


identifier_parts = st.sampled_from([*INTENT, "log", "level", "info", "parser", "node", "x"])


@settings(max_examples=200, deadline=None)
@given(parts=st.lists(identifier_parts, min_size=2, max_size=3), style=st.integers(0, 4))
def test_identifiers_are_code_never_words(parts, style):
    ident = [
        "_".join(parts),
        parts[0] + "".join(p.capitalize() for p in parts[1:]),
        "`" + " ".join(parts) + "`",
        ".".join(parts),
        "::".join(parts),
    ][style]
    words = intent_words(f"rename {ident} in the parser")
    assert words[0] == "rename"
    assert not set(words) & set(parts) - {"parser"}


@pytest.mark.parametrize(
    "text",
    [
        "Add Debug impl for the parser",
        "derive Debug and Clone on the token type",
        "Use the Architecture Components library for view models",
    ],
)
def test_capitalised_names_in_a_sentence_are_not_intent(text):
    words = intent_words(text)
    assert "debug" not in words and "architecture" not in words


def test_title_case_keeps_its_words():
    assert intent_words("Fix Crash On Startup") == ["fix", "crash", "on", "startup"]


def test_paths_are_names_and_versions_are_versions():
    kinds = [(t.kind, t.text) for t in scan("Bump serde from 1.0.1 to 1.0.2 in docs/README.md")]
    assert ("ver", "1.0.1") in kinds and ("name", "readme") in kinds
    assert ("word", "readme") not in kinds


def test_a_type_named_debug_does_not_make_a_request_a_debugging_task(shipped):
    by_rules = classify_rules(shipped, "Add Debug impl for Parser")
    assert "debug" not in by_rules.scores
    assert classify_rules(shipped, "debug the parser crash").tier == "debug"


@pytest.mark.parametrize(
    ("word", "concept"),
    [
        ("修复", "fix"),
        ("corrige", "fix"),
        ("исправлена", "fix"),
        ("behebt", "fix"),
        ("ドキュメント", "docs"),
        ("documentação", "docs"),
        ("テスト", "test"),
        ("refatoração", "restructure"),
        ("分布式", "concurrency"),
        ("typos", "wording"),
    ],
)
def test_concepts_span_languages(word, concept):
    assert concept in concepts(word)


@given(st.text(max_size=200))
def test_scan_never_fails_and_is_lower_case(text):
    for token in scan(text):
        assert token.kind in {"word", "name", "code", "ver", "num"}
        assert token.text == token.text.lower()
