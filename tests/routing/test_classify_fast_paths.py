"""The classifier's shortcuts decide exactly as the long way round: a regex skipped for
lacking its required text could not have matched, chunks split on spaces are the chunks the
tokeniser's pattern finds, Title Case counted per chunk is the rule as written, and nothing
that earlier requests left in a cache changes a later decision."""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from modelrouter import request_words
from modelrouter.classify import classify
from modelrouter.learned import decide
from modelrouter.route_regex import required_text
from modelrouter.rules import default_rules_path, load_rules

# Characters that trip tokenisers: separators str.split and `\s` might disagree on, case
# folds that change length or leave ASCII, backticks, CJK, digits, punctuation.
TRICKY = " \t\n\r\x0b\x0c\x1c\x1f\x85\xa0\u1680\u2028\u2029\u3000`_-./:()?!İıſKé中ÉAbcXyz019"
tricky_text = st.text(alphabet=st.sampled_from(TRICKY), max_size=40) | st.text(max_size=40)


@pytest.fixture(scope="module")
def shipped():
    return load_rules(default_rules_path())


long_ticked_text = st.text(alphabet=st.sampled_from(" \n``abcX_-.1"), max_size=250)


@settings(max_examples=300, deadline=None)
@given(text=tricky_text | long_ticked_text)
def test_chunks_split_in_c_are_the_pattern_chunks(text):
    assert request_words._chunks_of(text) == request_words._CHUNK.findall(text)


def _title_case_as_written(text: str) -> bool:
    # The rule itself: of the letter words after the first, ticked spans left out and
    # acronyms aside, at least two thirds are capitalised (and there are two or more).
    alpha = re.findall(r"[^\W\d_]\w*", re.sub(r"`[^`\n]{1,80}`", " ", text))
    rest = [w for w in alpha[1:] if not w.isupper()]
    return len(rest) >= 2 and sum(w[0].isupper() for w in rest) * 3 >= len(rest) * 2


@settings(max_examples=300, deadline=None)
@given(text=tricky_text | long_ticked_text)
def test_title_case_from_chunks_is_the_rule_as_written(text):
    assert request_words._is_title_case(text) == _title_case_as_written(text)
    if "`" not in text:
        found = [request_words._chunk_tokens(c) for c in text.split()]
        assert request_words._title_case_of_chunks(found) == _title_case_as_written(text)


patterns = st.sampled_from(
    [
        r"(?<!\w)console\.log(?!\w)",
        r"(?:^|\s)--[a-z]",
        r"\.md(?!\w)",
        r"^\s*feat(?:\([^)]*\))?!?:",
        r"ab|cd",
        r"x(?:y|z)ab",
        r"k\d+s",
        r"(?i)ǅx",
        r"[a-c]+ss",
    ]
)


@settings(max_examples=400, deadline=None)
@given(
    pattern=patterns,
    text=st.text(alphabet=st.sampled_from("abcdkKsSſxyzXYZ.-:( )\n1"), max_size=30),
)
def test_a_search_skipped_for_its_required_text_could_not_match(pattern, text):
    needed = required_text(pattern)
    if needed is not None:
        assert needed.isascii() and needed == needed.lower()
        if text.isascii() and needed not in text.lower():
            assert re.search(pattern, text, re.I) is None


def test_required_text_is_the_longest_plain_run():
    assert required_text(r"(?<!\w)console\.log(?!\w)") == "console.log"
    assert required_text(r"(?:^|\s)--[a-z]") == "--"
    assert required_text(r"ab|cd") is None  # either branch may match
    assert required_text(r"abc", 0) is None  # only case-insensitive patterns are checked
    assert required_text(r"([") is None


@settings(max_examples=200, deadline=None)
@given(probs=st.lists(st.sampled_from([0.1, 0.2, 0.25, 0.3, 0.4]), min_size=4, max_size=4))
def test_the_most_likely_tier_on_a_tie_is_the_more_capable(probs):
    tiers = ["a", "b", "c", "d"]
    d = decide(tiers, probs, under_penalty=2.0, escalate_below=0.0)
    assert d.predicted == tiers[max(range(4), key=lambda i: (probs[i], i))]


def test_warm_caches_decide_as_a_fresh_process(shipped):
    # A fresh interpreter classifies each request cold; here every cache is already full of
    # other requests' words, chunks, pairs and heads.
    texts = [
        "Fix Crash On Startup",
        "docs: Add Parser example to README",
        "feat(cli): support --json output in the Export command",
        "why does `log.debug` spam the console.log output?",
        "修复登录页面的空指针异常",
        "Refactor the plugin system around a message bus\n\nTraceback (most recent call last):",
        "ſtrange KELVIN K sign in İstanbul names",
        "",
    ]
    for text in texts * 2:
        classify(shipped, text.upper())
        classify(shipped, text)
    warm = [
        dataclasses.asdict(classify(shipped, t, selection_tokens=s))
        for t in texts
        for s in (0, 2500)
    ]
    program = (
        "import dataclasses, json, sys\n"
        "from modelrouter.classify import classify\n"
        "from modelrouter.rules import default_rules_path, load_rules\n"
        "rules = load_rules(default_rules_path())\n"
        "texts = json.load(sys.stdin)\n"
        "out = [dataclasses.asdict(classify(rules, t, selection_tokens=s))"
        " for t in texts for s in (0, 2500)]\n"
        "json.dump(out, sys.stdout)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", program],
        input=json.dumps(texts),
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(done.stdout) == json.loads(json.dumps(warm))
