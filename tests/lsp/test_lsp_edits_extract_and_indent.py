"""Replies become safe edits: code extraction, indentation, file placement."""

from __future__ import annotations

from pathlib import Path

import pytest
from modelrouter import edits
from modelrouter.edits import NoUsableCode


def test_the_block_in_the_documents_language_wins():
    reply = "Output:\n```text\n42\n```\nCode:\n```py\nx = 1\n```\nOther:\n```js\nlet x = 1\n```\n"
    assert edits.extract_code(reply, "python") == "x = 1\n"


@pytest.mark.parametrize(
    ("reply", "why"),
    [
        ("", "empty"),
        ("The code is fine, nothing to change.", "no fenced code block"),
        ("```python\n\n```", "code block was empty"),
        ("```text\nsome output\n```", "only non-code blocks"),
    ],
)
def test_replies_without_usable_code_say_why(reply, why):
    with pytest.raises(NoUsableCode, match=why):
        edits.extract_code(reply, "python")


def test_bare_python_that_parses_is_accepted():
    assert edits.extract_code("def f():\n    return 1\n", "python") == "def f():\n    return 1\n"


def test_reindent_restores_the_ranges_indentation_and_final_newline():
    original = "        if x:\n            y = 1\n"
    assert edits.reindent("if x:\n    y = 2", original) == "        if x:\n            y = 2\n"
    assert edits.reindent("    a = 1\n    b = 2\n", "    a = 0") == "    a = 1\n    b = 2"


def test_reindent_from_mid_line_leaves_the_first_line_alone():
    doc = "    value = compute(\n        1, 2)\n"
    start = doc.index("compute")
    indent = edits.indent_before(doc, start)
    assert indent == "    "
    out = edits.reindent("compute(\n    1, 2, 3)\n", doc[start:], line_indent=indent)
    assert out == "compute(\n        1, 2, 3)\n"
    assert edits.indent_before(doc, 0) is None
    assert edits.indent_before(doc, 4) is None


@pytest.mark.parametrize(
    ("path", "lang", "expected"),
    [
        ("/w/pkg/calc.py", "python", "/w/tests/test_calc.py"),
        ("/w/src/calc.ts", "typescript", "/w/src/calc.test.ts"),
        ("/w/src/calc.js", "javascript", "/w/src/calc.test.js"),
        ("/w/calc/calc.go", "go", "/w/calc/calc_test.go"),
        ("/w/lib/calc.rb", "ruby", "/w/spec/calc_spec.rb"),
        ("/w/src/lib.rs", "rust", "/w/src/lib.rs"),
        ("/w/tests/test_calc.py", "python", "/w/tests/test_calc.py"),
    ],
)
def test_conventional_test_files(path, lang, expected):
    assert edits.test_file_path(Path(path), lang, Path("/w")) == Path(expected)


def test_merging_tests_drops_imports_the_file_has_and_spaces_definitions():
    existing = "import pytest\nfrom calc import add\n\n\ndef test_a():\n    pass\n"
    new = "import pytest\nfrom calc import add, sub\n\n\ndef test_b():\n    pass\n"
    merged = edits.merge_tests(existing, new, "python")
    assert merged.startswith("\n\nfrom calc import add, sub\n")
    assert "import pytest" not in merged


def test_design_notes_never_overwrite(tmp_path):
    first = edits.design_note_path(tmp_path, "Caching layer!")
    assert first.name == "caching-layer.md"
    first.write_text("x")
    assert edits.design_note_path(tmp_path, "Caching layer!").name == "caching-layer-2.md"


def test_a_reply_with_the_whole_function_replaces_the_function():
    text = "import os\n\ndef f(x):\n    y = x\n    return y +\n"
    sel = text.index("    return")
    scope = (text.index("def f"), len(text))
    whole = "def f(x):\n    y = x\n    return y + 1\n"
    assert edits.widen_to_scope(whole, text, sel, len(text), scope) == scope
    part = "return y + 1\n"
    assert edits.widen_to_scope(part, text, sel, len(text), scope) == (sel, len(text))


def test_a_short_reply_that_starts_like_the_scope_never_replaces_all_of_it():
    body = "".join(f"    v{i} = {i}\n" for i in range(12))
    text = f"def f():\n{body}    return v0\n"
    sel = text.index("    v3")
    scope = (0, len(text))
    short = "def f():\n    v3 = 3\n"
    assert edits.widen_to_scope(short, text, sel, sel + len("    v3 = 3\n"), scope) == (
        sel,
        sel + len("    v3 = 3\n"),
    )


def test_top_level_code_has_no_enclosing_scope():
    from modelrouter.context import enclosing_scope

    text = "import sys\nimport os  # operatng system\n" + "".join(
        f"x{i} = {i}\n" for i in range(16)
    )
    assert enclosing_scope(text, 1, 1, "python") is None
    inside = "import os\n\n\ndef f(x):\n    return x\n"
    assert enclosing_scope(inside, 4, 4, "python")[:2] == (3, 4)


def test_context_lines_the_reply_echoes_are_replaced_by_themselves_not_duplicated():
    text = "import sys\nimport os  # operatng system\nx = 1\n"
    start, end = text.index("import os"), text.index("x = 1")
    echo_before = "import sys\nimport os  # operating system\n"
    assert edits.widen_to_echoed_lines(echo_before, text, start, end) == (0, end)
    echo_after = "import os  # operating system\nx = 1\n"
    assert edits.widen_to_echoed_lines(echo_after, text, start, end) == (start, len(text))
    # A reply that is only the fixed line, or only a context line, keeps the selection.
    assert edits.widen_to_echoed_lines("import os\n", text, start, end) == (start, end)
    assert edits.widen_to_echoed_lines("import sys\n", text, start, end) == (start, end)
