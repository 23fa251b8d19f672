"""Context: the enclosing function/class, imports, and trimming that says what it cut."""

from __future__ import annotations

import pytest
from modelrouter import context
from modelrouter.context import ContextError, build_context

PY = '''import os
from pathlib import Path


class Store:
    """Keeps things."""

    def load(self, name):
        path = Path(name)
        data = path.read_text()
        return data.strip()

    def save(self, name, data):
        Path(name).write_text(data)
'''


def _ctx(text: str, needle: str, **kw):
    start = text.index(needle)
    return build_context(text, start, start + len(needle), **kw)


def test_python_selection_gets_its_enclosing_method_and_the_imports():
    ctx = _ctx(PY, "        data = path.read_text()\n", language_id="python", path="store.py")
    assert ctx.selection_lines == (10, 10)
    assert ctx.scope_label.endswith("`load` (lines 8-11)")
    assert ctx.scope.startswith("    def load(self, name):")
    assert "def save" not in ctx.scope
    assert ctx.header == "import os\nfrom pathlib import Path\n"
    assert ctx.notes == []


def test_typescript_uses_its_own_grammar():
    ts = (
        "import { x } from './x';\n\nexport function double(n: number): number {\n"
        "  const y = n * 2;\n  return y;\n}\n\nconst z = 1;\n"
    )
    ctx = _ctx(ts, "  const y = n * 2;\n", language_id="typescript")
    assert "`double`" in ctx.scope_label
    assert ctx.scope.startswith("export function double") or ctx.scope.startswith("function")
    assert ctx.header == "import { x } from './x';\n"


def test_python_falls_back_to_ast_without_a_grammar(monkeypatch):
    monkeypatch.setattr(context, "parse", lambda language_id, data: None)
    ctx = _ctx(PY, "        return data.strip()\n", language_id="python")
    assert ctx.scope_label == "function `load` (lines 8-11)"


def test_unknown_language_gets_lines_around_the_selection():
    text = "".join(f"line {i}\n" for i in range(200))
    ctx = _ctx(text, "line 100\n", language_id="no-such-language", around=5)
    assert ctx.scope_label == "lines 96-106"
    assert ctx.scope.splitlines()[0] == "line 95"


def test_trimming_to_a_small_budget_keeps_the_selection_and_says_what_was_cut():
    body = "".join(f"    total += {i}  # running sum of item number {i}\n" for i in range(400))
    text = "import os\n\n\ndef big():\n    total = 0\n" + body + "    return total\n"
    needle = "    total += 200  # running sum of item number 200\n"
    full = _ctx(text, needle, language_id="python", budget_tokens=100_000)
    small = _ctx(text, needle, language_id="python", budget_tokens=300)
    assert small.selection == full.selection == needle
    assert small.tokens <= 300 < full.tokens
    assert len(small.scope) < len(full.scope)
    assert needle in small.scope or small.scope == ""
    assert any("surrounding code" in note for note in small.notes)


def test_a_selection_larger_than_the_budget_is_refused():
    text = "x = 1\n" * 2000
    with pytest.raises(ContextError, match="more than the 50"):
        build_context(text, 0, len(text), language_id="python", budget_tokens=50)
