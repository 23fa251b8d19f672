"""Big files: the syntax check and the scope search read only what they need.

The scoped Python check must agree with parsing the whole file before and after the edit
(over generated modules, strings holding column-0 code included), must never parse the
whole of a big file for a one-line fix, and runs in a worker thread. The enclosing scope of
a big file is found in a window that grows until the scope fits, giving the same answer
as a whole-file parse.
"""

from __future__ import annotations

import ast
import threading

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from modelrouter import context, python_syntax
from modelrouter.context import enclosing_scope
from modelrouter.positions import LineIndex
from modelrouter.python_syntax import breaks_python, edit_breaks_python

BLOCKS = [
    "def f(a, b):\n    return a + b\n",
    "@decorator\ndef g():\n    x = [\n1,\n    ]\n    return x\n",
    "class C:\n    def m(self):\n        pass\n\n    y = 2\n",
    "if x:\n    y = 1\nelse:\n    y = 2\n",
    "try:\n    run()\nexcept E:\n    pass\nfinally:\n    done()\n",
    's = """\nx = 1\ndef h(:\n"""\n',
    "values = (\n1,\n2)\n",
    "# a comment\n\n",
    "import os\n",
]
REPLACEMENTS = ["    return a - b\n", "x = (\n", "def k(:\n", "pass\n", "", "    y = 3\n", "):\n"]


def whole_file_verdict(text: str, start: int, end: int, new: str) -> bool:
    try:
        ast.parse(text)
    except SyntaxError:
        return False
    try:
        ast.parse(text[:start] + new + text[end:])
    except SyntaxError:
        return True
    return False


# Column-0 lines inside brackets or strings: only the exact (whole-file) path is sure there.
AMBIGUOUS = ['s = """\nx = 1\ndef h(:\n"""\n', "values = (\n1,\n2)\n"]


def _agrees(blocks, new, data):
    text = "".join(blocks)
    index = LineIndex(text)
    first = data.draw(st.integers(0, index.line_count - 1))
    last = data.draw(st.integers(first, index.line_count - 1))
    start, end = index.line_start(first), index.line_start(last + 1)
    verdict = breaks_python(text, start, end, new)
    assert (verdict is not None) == whole_file_verdict(text, start, end, new), verdict


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(st.sampled_from([b for b in BLOCKS if b not in AMBIGUOUS]), min_size=1, max_size=12),
    st.sampled_from(REPLACEMENTS),
    st.data(),
)
def test_the_scoped_check_agrees_with_parsing_the_whole_file(monkeypatch, blocks, new, data):
    monkeypatch.setattr(python_syntax, "SCOPED_FROM_CHARS", 0)
    _agrees(blocks, new, data)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.sampled_from(BLOCKS), min_size=1, max_size=12),
    st.sampled_from(REPLACEMENTS),
    st.data(),
)
def test_small_files_get_the_exact_verdict_even_inside_brackets_and_strings(blocks, new, data):
    _agrees(blocks, new, data)


def big_module(functions: int) -> str:
    return "".join(
        f"def handler_{n}(request):\n    value = request.get({n})\n    return teh_value\n\n\n"
        for n in range(functions)
    )


def test_a_fix_in_a_big_file_parses_only_its_surroundings(monkeypatch):
    text = big_module(40_000)  # ~3 MB
    index = LineIndex(text)
    line = 5 * 20_000 + 2
    start, end = index.line_start(line), index.line_start(line + 1)
    parsed: list[int] = []
    real_parse = ast.parse

    def recording_parse(source, *args, **kwargs):
        parsed.append(len(source))
        return real_parse(source, *args, **kwargs)

    monkeypatch.setattr(python_syntax.ast, "parse", recording_parse)
    assert breaks_python(text, start, end, "    return the_value\n", index) is None
    broken = breaks_python(text, start, end, "    return (the_value\n", index)
    assert broken is not None and broken.startswith(f"line {line + 1}:")
    assert parsed and max(parsed) < len(text) // 100


async def test_the_check_runs_off_the_event_loop(monkeypatch):
    threads: list[threading.Thread] = []
    real_parse = ast.parse

    def recording_parse(source, *args, **kwargs):
        threads.append(threading.current_thread())
        return real_parse(source, *args, **kwargs)

    monkeypatch.setattr(python_syntax.ast, "parse", recording_parse)
    text = big_module(10)
    assert await edit_breaks_python(text, 0, 10, "def (:\n") is not None
    assert threads and threading.main_thread() not in threads


@pytest.mark.parametrize("body_lines", [3, 5000])  # the second outgrows the first window
def test_a_big_files_scope_is_found_in_a_window_like_in_the_whole_file(monkeypatch, body_lines):
    long_function = "def long_one():\n" + "    x = 1\n" * body_lines + "    return x\n\n\n"
    text = big_module(8_000) + long_function + big_module(8_000)
    assert len(text) > context.WINDOW_FROM_CHARS
    first = text[: text.index("def long_one")].count("\n") + 1 + body_lines // 2
    windowed = enclosing_scope(text, first, first, "python")
    monkeypatch.setattr(context, "WINDOW_FROM_CHARS", len(text) + 1)
    whole = enclosing_scope(text, first, first, "python")
    assert windowed == whole
    assert whole is not None and "long_one" in whole[2]
