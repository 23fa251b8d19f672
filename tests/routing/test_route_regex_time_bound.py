"""A route regex that backtracks catastrophically cannot stall routing: it runs with a time
limit and is switched off once it reaches it; `rules check` warns about such patterns; safe
patterns match exactly as Python's `re` does."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from modelrouter.classify import classify_rules
from modelrouter.config import Route
from modelrouter.route_regex import RouteRegex, backtracking_risk
from modelrouter.rules import default_rules_path, load_rules

RISKY = [r"(a+)+$", r"(a|aa)+$", r"(\w+\s?)+$", r"^(\d+)*$", r"\s*\s*$", r".*a.*a.*a.*b", r"(x)\1"]
SAFE = [
    r"^\s*(?:docs?|chore|style|typo)(?:\([^)]*\))?!?:",
    r"^\s*[\w.:]+\s*->\s*[\w.:]+\s*$",
    r"(?:^|\s)--[a-z]",
    r"[a-z]+\d+",
    r"\bfix(?:es|ed)?\b",
    r"(?<!\w)TODO(?!\w)",
    r"(a|b)*c",
]


def _rules_file(tmp_path: Path, pattern: str) -> Path:
    path = tmp_path / "rules.yaml"
    path.write_text(
        textwrap.dedent(f"""\
        version: 1
        extends: default
        routes:
          - {{name: evil, tier: trivial, patterns: ['re:{pattern}']}}
        """)
    )
    return path


@pytest.mark.parametrize("pattern", RISKY)
def test_catastrophic_shapes_are_flagged(pattern):
    assert backtracking_risk(pattern) is not None


@pytest.mark.parametrize("pattern", SAFE)
def test_ordinary_patterns_are_not_flagged(pattern):
    assert backtracking_risk(pattern) is None


def test_the_shipped_rules_have_no_risky_pattern():
    rules = load_rules(default_rules_path())
    patterns = [p[3:] for r in rules.routes for p in r.patterns if p.startswith("re:")]
    assert patterns
    assert [p for p in patterns if backtracking_risk(p)] == []


@settings(max_examples=200, deadline=None)
@given(text=st.text(alphabet="ab c-:>()!\nxfixTODO.9é", max_size=60), which=st.sampled_from(SAFE))
def test_safe_patterns_match_exactly_as_re(text, which):
    assert RouteRegex(which).search(text) == (re.search(which, text, re.I) is not None)


def test_a_risky_pattern_matches_normally_until_it_times_out(caplog):
    rx = RouteRegex(r"(a|aa)+$")
    assert rx.search("xaaa") and not rx.search("b")
    assert rx.search("a" * 40 + "!") is False  # exponential in `re`; bounded here
    assert rx.disabled
    assert "switched off" in caplog.text
    assert rx.search("xaaa") is False  # off for good: its cost is paid once


def test_route_on_a_catastrophic_pattern_answers_quickly(tmp_path):
    rules = _rules_file(tmp_path, "(a|aa)+$")
    proc = subprocess.run(
        [sys.executable, "-m", "modelrouter", "route", "a" * 41 + "!", "--rules", str(rules)],
        capture_output=True,
        text=True,
        timeout=60,  # `re` would take longer than the age of the universe
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr


def test_classify_skips_the_switched_off_pattern_and_keeps_the_others(tmp_path):
    rules = load_rules(_rules_file(tmp_path, "(a|aa)+$"))
    first = classify_rules(rules, "fix typo " + "a" * 40 + "!")
    again = classify_rules(rules, "fix typo aaa")
    assert first.tier == again.tier == "trivial"
    assert "evil" not in again.reason  # switched off after its timeout
    assert isinstance(rules.routes[-1], Route)


def test_rules_check_warns_but_passes(tmp_path):
    rules = _rules_file(tmp_path, "(a+)+$")
    proc = subprocess.run(
        [sys.executable, "-m", "modelrouter", "rules", "check", str(rules)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert f"{rules}:" in proc.stderr and "warning" in proc.stderr
    assert "can backtrack catastrophically" in proc.stderr
