"""Each answer check on its own, on classes of input: whitespace-only changes (form feeds,
CRLF, tabs), non-ASCII text, empty selections, files that did not parse before, unknown
languages, tools that are missing or never finish; and which checks an action gets."""

from __future__ import annotations

import dataclasses
import sys
import textwrap

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from modelrouter.answer_checks import EditUnderCheck, checks_for, tool_checks
from modelrouter.answer_checks.syntax_checks import syntax
from modelrouter.answer_checks.text_checks import scope, unchanged
from modelrouter.answer_checks.tool_checks import collect, command_check, ruff
from modelrouter.config import CheckCommand
from modelrouter.routing.escalation import CheckFailure, Verdict
from modelrouter.rules import default_rules_path, load_rules


def edit(
    before: str, old: str, new: str, language: str = "python", name: str = ""
) -> EditUnderCheck:
    """`before` with its first `old` replaced by `new`."""
    start = before.index(old)
    name = name or {"python": "mod.py", "javascript": "mod.js", "rust": "lib.rs"}.get(
        language, "mod.txt"
    )
    return EditUnderCheck(before, start, start + len(old), new, language, name)


# --- unchanged -------------------------------------------------------------------------------

WHITESPACE = st.sampled_from([" ", "\t", "\x0c", "\r\n", "\n", "\r", "  ", "\u00a0"])
TOKENS = st.lists(
    st.text(st.characters(blacklist_categories=("Cs", "Zs", "Zl", "Zp", "Cc")), min_size=1),
    min_size=1,
    max_size=8,
)


@given(TOKENS, st.data())
@settings(max_examples=60, deadline=None)
async def test_only_whitespace_changed_is_unchanged(tokens, data):
    original = " ".join(tokens)
    spaced = "".join(t + data.draw(WHITESPACE) for t in tokens)
    found = await unchanged(edit(f"x\n{original}\ny\n", original, spaced))
    assert isinstance(found, CheckFailure) and found.check == "unchanged"
    assert "selection" in found.to_model or "whitespace" in found.to_model


@given(TOKENS)
@settings(max_examples=40, deadline=None)
async def test_a_changed_token_is_a_change(tokens):
    original = " ".join(tokens)
    changed = " ".join([*tokens[:-1], tokens[-1] + "é"])
    assert await unchanged(edit(f"{original}\n", original, changed)) is None


async def test_the_same_text_back_and_an_empty_selection_left_empty_are_unchanged():
    same = await unchanged(edit("a = 1\n", "a = 1", "a = 1"))
    assert same is not None and same.summary == "did not change the selection"
    empty = EditUnderCheck("a = 1\n", 6, 6, "", "python", "m.py")
    assert await unchanged(empty) is not None
    filled = EditUnderCheck("a = 1\n", 6, 6, "b = 2\n", "python", "m.py")
    assert await unchanged(filled) is None


# --- scope -----------------------------------------------------------------------------------

TYPO = scope("typo", "Fix typos.")


async def test_a_typo_fix_passes_and_a_logic_rewrite_fails_with_its_line():
    before = 'def greet(name):\n    return "Helo, " + name\n'
    assert await TYPO(edit(before, '"Helo, "', '"Hello, "')) is None
    line = '    return "Helo, " + name\n'
    found = await TYPO(edit(before, line, '    return f"Hello, {name.title()}"\n'))
    assert isinstance(found, CheckFailure) and found.check == "scope"
    assert found.summary == "changed more than a typo fix" and "line 2" in found.detail


async def test_a_typo_fix_may_reword_a_comment_or_string_but_not_the_code():
    before = "def f(x):\n    # it dont work for teh empty list\n    return x + 1\n"
    reworded = "    # it does not work for the empty list\n    return x + 1\n"
    region = "    # it dont work for teh empty list\n    return x + 1\n"
    assert await TYPO(edit(before, region, reworded)) is None
    found = await TYPO(edit(before, region, reworded.replace("x + 1", "x + 2")))
    assert found is not None and "line 3" in found.detail and "'1' became '2'" in found.detail


async def test_non_ascii_spelling_fixes_pass():
    before = "# Größe der Faßung\nx = 1\n"
    assert await TYPO(edit(before, "Faßung", "Fassung")) is None


async def test_a_docstring_may_be_added_and_a_reformat_may_only_move_spaces():
    before = "def f(x):\n    return x*2\n"
    body = "def f(x):\n    return x*2\n"
    docstring = scope("docstring", "Add a docstring")
    assert (
        await docstring(edit(before, body, 'def f(x):\n    """Twice x."""\n    return x*2\n'))
        is None
    )
    assert await docstring(edit(before, body, "def f(x):\n    return x*3\n")) is not None
    reformat = scope("reformat", "Reformat")
    assert await reformat(edit(before, body, "def f(x):\n    return x * 2\n")) is None
    assert await reformat(edit(before, body, "def f(y):\n    return y * 2\n")) is not None


# --- syntax ----------------------------------------------------------------------------------

JS = "function area(r) {\n  return Math.PI * r * r;\n}\n"


async def test_a_javascript_edit_that_breaks_the_file_fails_with_the_position():
    found = await syntax(
        edit(JS, "return Math.PI * r * r;", "return Math.PI * (r * r;", "javascript")
    )
    assert isinstance(found, CheckFailure) and found.check == "syntax"
    assert found.detail.startswith("introduced a syntax error at 2:")
    assert "does not parse" in found.to_model
    assert await syntax(edit(JS, "Math.PI * r * r", "Math.PI * r ** 2", "javascript")) is None


async def test_a_file_that_did_not_parse_before_fails_only_for_new_errors():
    broken = "function a( {\n  return 1;\n}\nfunction b() {\n  return 2;\n}\n"
    assert await syntax(edit(broken, "return 2;", "return 3;", "javascript")) is None
    found = await syntax(edit(broken, "return 2;", "return (3;", "javascript"))
    assert found is not None and "at 5:" in found.detail


async def test_the_column_counts_characters_not_bytes():
    before = 'const s = "ééé"; const t = 1;\n'
    found = await syntax(edit(before, "const t = 1;", "const t = (1;", "javascript"))
    assert found is not None
    line, column = found.detail.removeprefix("introduced a syntax error at ").split()[0].split(":")
    assert line == "1" and int(column) >= len('const s = "ééé"; const t = ')


async def test_python_is_checked_by_its_own_parser():
    before = "def f(r):\n    return r * r\n"
    found = await syntax(edit(before, "return r * r", "return (r * r"))
    assert found is not None and found.summary == "did not parse" and "line" in found.detail
    assert await syntax(edit("def f(:\n    pass\nx = 1\n", "x = 1", "x = (2")) is None


@pytest.mark.parametrize("language", ["plaintext", "no-such-language", ""])
async def test_a_language_without_a_grammar_is_skipped(language):
    found = await syntax(edit("some text\n", "some", "(((", language))
    assert isinstance(found, Verdict) and found.status == "skipped" and "grammar" in found.detail


# --- ruff ------------------------------------------------------------------------------------

MODULE = "import os\n\n\ndef f(x):\n    return x + 1\n"


async def test_ruff_reports_a_new_undefined_name_but_not_an_old_finding():
    found = await ruff(edit(MODULE, "return x + 1", "return y + 1"), 20)
    assert isinstance(found, CheckFailure) and found.check == "ruff"
    assert found.detail.startswith("F821") and "`y`" in found.detail and "at 5:" in found.detail
    # `import os` was unused before the edit too: not the answer's doing.
    assert await ruff(edit(MODULE, "return x + 1", "return x + 2"), 20) is None


@pytest.mark.parametrize(
    ("before", "old", "new"),
    [
        ("improt os\n", "improt os", "import os"),  # now "unused", but it did not parse
        ("retrun value * 2\n", "retrun", "return"),  # now "outside a function"
        ("def f(:\n    return x\n", "def f(:", "def f():"),  # now "undefined name x"
    ],
)
async def test_ruff_has_nothing_to_compare_when_the_file_did_not_parse_before(before, old, new):
    found = await ruff(edit(before, old, new), 20)
    assert isinstance(found, Verdict) and found.status == "skipped"
    assert "did not parse" in found.detail


async def test_ruff_missing_or_too_slow_is_skipped_not_failed(monkeypatch):
    monkeypatch.setattr(tool_checks, "RUFF", ("ruff-is-not-installed-here",))
    found = await ruff(edit(MODULE, "return x + 1", "return y + 1"), 20)
    assert isinstance(found, Verdict) and found.status == "skipped"
    assert "not installed" in found.detail


# --- collect ---------------------------------------------------------------------------------


def _tests_edit(tmp_path, tests: str) -> EditUnderCheck:
    (tmp_path / "circle.py").write_text("def area(r):\n    return 3 * r * r\n")
    path = tmp_path / "tests" / "test_circle.py"
    return EditUnderCheck(
        "", 0, 0, tests, "python", path.name, workspace=str(tmp_path), path=str(path)
    )


async def test_new_tests_that_collect_pass_and_a_broken_import_fails(tmp_path):
    good = "from circle import area\n\n\ndef test_area():\n    assert area(1) == 3\n"
    assert await collect(_tests_edit(tmp_path, good), 60) is None
    bad = good.replace("import area", "import perimeter")
    found = await collect(_tests_edit(tmp_path, bad), 60)
    assert isinstance(found, CheckFailure) and found.check == "collect"
    assert "perimeter" in found.detail
    assert not (tmp_path / "tests").exists()  # nothing was written into the project


async def test_tests_that_need_a_module_not_installed_are_skipped(tmp_path):
    tests = "import no_such_module_anywhere\n\n\ndef test_x():\n    assert True\n"
    found = await collect(_tests_edit(tmp_path, tests), 60)
    assert isinstance(found, Verdict) and found.status == "skipped"


async def test_a_file_with_no_tests_in_it_fails(tmp_path):
    found = await collect(_tests_edit(tmp_path, "def helper():\n    return 1\n"), 60)
    assert found is not None and found.summary == "wrote no tests pytest can find"


# --- the user's commands ---------------------------------------------------------------------


def _script(body: str, **kw) -> CheckCommand:
    return CheckCommand("mine", (sys.executable, "-c", textwrap.dedent(body), "{file}"), **kw)


FORBID_TODO = """
import sys
text = open(sys.argv[1], encoding="utf-8").read()
for n, line in enumerate(text.splitlines(), 1):
    if "TODO" in line:
        print(f"{sys.argv[1]}:{n}: TODO left in")
sys.exit(1 if "TODO" in text else 0)
"""


async def test_a_command_fails_on_new_output_only(tmp_path):
    check = command_check(_script(FORBID_TODO))
    found = await check(edit("x = 1\ny = 2\n", "y = 2", "y = 2  # TODO"))
    assert isinstance(found, CheckFailure) and found.check == "mine"
    assert found.detail == "mod.py:2: TODO left in"  # the temporary path is not shown
    # It failed the same way before the edit: the answer is not to blame.
    assert await check(edit("x = 1  # TODO\ny = 2\n", "y = 2", "y = 3")) is None
    assert await check(edit("x = 1\ny = 2\n", "y = 2", "y = 3")) is None


async def test_a_command_that_is_missing_or_never_finishes_is_skipped():
    missing = command_check(CheckCommand("gone", ("no-such-checker-here", "{file}")))
    found = await missing(edit("x = 1\n", "x = 1", "x = 2"))
    assert (
        isinstance(found, Verdict) and found.status == "skipped" and "not installed" in found.detail
    )
    slow = command_check(_script("import time; time.sleep(30)", timeout_s=0.5))
    found = await slow(edit("x = 1\n", "x = 1", "x = 2"))
    assert isinstance(found, Verdict) and found.status == "skipped" and "within" in found.detail


# --- which checks an action gets -------------------------------------------------------------


def test_checks_are_chosen_by_action_kind_and_language_cheapest_first():
    rules = load_rules(default_rules_path())
    fix = rules.actions["fix-typo"]

    def names(action, kind, language, trivial=True, rules=rules):
        found = checks_for(
            rules, action, kind, language, instruction=action.prompt, trivial=trivial
        )
        return [c.name for c in found]

    assert names(fix, "rewrite", "python") == ["unchanged", "syntax", "scope", "ruff"]
    assert names(fix, "rewrite", "rust") == ["unchanged", "syntax", "scope"]
    assert names(fix, "rewrite", "python", trivial=False) == ["unchanged", "syntax", "ruff"]
    # Format may rightly change only whitespace, or nothing.
    assert names(rules.actions["format"], "rewrite", "go") == ["syntax", "scope", "layout"]
    # Implementing is no trivial edit: no scope, whatever words its prompt uses.
    assert names(rules.actions["implement"], "rewrite", "python", trivial=False)[0] == "unchanged"
    tests = rules.actions["write-tests"]
    assert names(tests, "tests", "python", trivial=False) == ["syntax", "ruff", "collect"]
    assert names(rules.actions["explain"], "answer", "python") == []
    assert names(rules.actions["design"], "design", "python") == []
    off = dataclasses.replace(rules, checks=dataclasses.replace(rules.checks, enabled=False))
    assert names(fix, "rewrite", "python", rules=off) == []
    mine = dataclasses.replace(
        rules,
        checks=dataclasses.replace(
            rules.checks,
            commands=(
                CheckCommand("mypy", ("mypy", "{file}"), ("python",)),
                CheckCommand("any", ("lint", "{file}")),
            ),
        ),
    )
    assert names(fix, "rewrite", "python", rules=mine)[-2:] == ["mypy", "any"]
    assert names(fix, "rewrite", "rust", rules=mine)[-1] == "any"


@given(st.text(max_size=120), st.integers(0, 120), st.integers(0, 120))
@settings(max_examples=80, deadline=None)
async def test_giving_any_javascript_text_back_as_it_was_adds_no_syntax_error(text, a, b):
    # Whatever the file holds (broken code, non-ASCII, lone surrogates), an edit that puts
    # back what was there introduces nothing.
    start, end = sorted((min(a, len(text)), min(b, len(text))))
    same = EditUnderCheck(text, start, end, text[start:end], "javascript", "m.js")
    assert await syntax(same) is None
