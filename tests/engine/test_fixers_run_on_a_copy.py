"""Fixers: run on a temporary copy of the selection, capped in time and output; a fixer
that changes nothing, fails, is missing or misbehaves leaves the request to the models."""

from __future__ import annotations

import sys
import textwrap

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from modelrouter.config import FixerConfig
from modelrouter.fixers import fixers_for, fixers_for_request, run_fixer, version_of
from modelrouter.rules import RulesError, default_rules_path, load_rules

TYPOS = FixerConfig("typos", ("typos", "--write-changes", "{file}"), ("fix-typo",))


def python_fixer(script: str, **kw) -> FixerConfig:
    """A fixer that runs `script` with the copy's path as argv[1]."""
    return FixerConfig("py", (sys.executable, "-c", textwrap.dedent(script), "{file}"), (), **kw)


async def test_typos_fixes_a_known_misspelling_and_reports_its_version():
    answer = await run_fixer(TYPOS, '    return "Helo, " + name\n', ".py")
    assert answer is not None
    assert answer.text == '    return "Hello, " + name\n'
    assert answer.fixer == "typos"
    assert answer.version.startswith("typos ") and answer.version[6].isdigit()


async def test_a_misspelling_the_fixer_does_not_know_is_no_answer():
    assert await run_fixer(TYPOS, '    return "Hlelo, " + name\n', ".py") is None


async def test_the_default_rules_format_and_sort_imports_python_with_ruff():
    rules = load_rules(default_rules_path())
    (fmt,) = fixers_for(rules, "format", "python")
    (imports,) = fixers_for(rules, "organize-imports", "python")
    formatted = await run_fixer(fmt, "x = {  'a':1 }\n", ".py")
    assert formatted is not None and formatted.text == 'x = {"a": 1}\n'
    sorted_ = await run_fixer(imports, "import sys\nimport os\n", ".py")
    assert sorted_ is not None and sorted_.text == "import os\nimport sys\n"
    assert fixers_for(rules, "format", "rust") == []


def test_ask_requests_call_for_fixers_by_their_words():
    rules = load_rules(default_rules_path())
    names = [f.name for f in fixers_for_request(rules, "Fix the TYPO in the greeting", "go")]
    assert names == ["typos"]
    assert fixers_for_request(rules, "explain this function", "python") == []


async def test_the_placeholder_is_the_copy_and_the_fixer_sees_only_the_selection():
    upper = python_fixer(
        """
        import sys
        p = sys.argv[1]
        text = open(p).read()
        open(p, "w").write(text.upper() + p)
        """
    )
    answer = await run_fixer(upper, "abc", ".txt")
    assert answer is not None
    assert answer.text.startswith("ABC")
    assert answer.text.endswith("selection.txt")


async def test_a_fixer_past_its_time_cap_is_stopped_and_is_no_answer():
    slow = python_fixer(
        """
        import sys, time
        open(sys.argv[1], "w").write("changed")
        time.sleep(30)
        """,
        timeout_s=0.5,
    )
    assert await run_fixer(slow, "original", ".txt") is None


async def test_a_fixer_flooding_its_output_is_stopped_and_is_no_answer():
    chatty = python_fixer(
        """
        import sys
        open(sys.argv[1], "w").write("changed")
        while True:
            sys.stdout.write("x" * 65536)
        """,
        timeout_s=20,
    )
    # Stopped at the output cap: what it left in the copy is not trusted.
    assert await run_fixer(chatty, "original", ".txt") is None


async def test_hostile_fixers_are_no_answer():
    missing = FixerConfig("nope", ("modelrouter-no-such-fixer", "{file}"), ())
    emptied = python_fixer("import sys; open(sys.argv[1], 'w').write('')")
    deleted = python_fixer("import os, sys; os.remove(sys.argv[1])")
    binary = python_fixer("import sys; open(sys.argv[1], 'wb').write(b'\\xff\\xfe\\x00')")
    for fixer in (missing, emptied, deleted, binary):
        assert await run_fixer(fixer, "text", ".txt") is None, fixer
    assert await version_of(missing) is None


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(st.characters(blacklist_categories=("Cs",)), max_size=200))
async def test_a_fixer_that_changes_nothing_never_answers(text):
    unchanged = FixerConfig("true", ("true", "{file}"), ())
    assert await run_fixer(unchanged, text, ".txt") is None


def test_a_fixer_for_an_unknown_action_is_a_rules_error(tmp_path):
    path = tmp_path / "rules.yaml"
    path.write_text(
        "extends: default\nfixers:\n  mine:\n    command: [mytool, '{file}']\n"
        "    actions: [fix-typoo]\n",
        encoding="utf-8",
    )
    try:
        load_rules(path)
    except RulesError as exc:
        assert "unknown action 'fix-typoo'" in str(exc.problems[0])
    else:
        raise AssertionError("the rules loaded")


def test_rules_remove_a_default_fixer_by_name(tmp_path):
    path = tmp_path / "rules.yaml"
    path.write_text("extends: default\nfixers:\n  typos: null\n", encoding="utf-8")
    assert "typos" not in load_rules(path).fixers
    assert "ruff-format" in load_rules(path).fixers


async def test_the_temporary_copy_is_removed_whatever_the_fixer_did(tmp_path, monkeypatch):
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    changed = python_fixer("import sys; open(sys.argv[1], 'w').write('changed')")
    slow = python_fixer("import time; time.sleep(30)", timeout_s=0.3)
    binary = python_fixer("import sys; open(sys.argv[1], 'wb').write(b'\\xff')")
    assert (await run_fixer(changed, "original", ".txt", version="py")).text == "changed"
    assert await run_fixer(slow, "original", ".txt") is None
    assert await run_fixer(binary, "original", ".txt") is None
    assert list(tmp_path.iterdir()) == []
