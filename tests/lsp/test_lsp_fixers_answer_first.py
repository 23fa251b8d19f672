"""Fixers before models, through the language server: a deterministic fixer answers the
action when it changes the selection (no model asked, cost 0, hover says so); when it
changes nothing, or its answer fails a check, the tier's backends answer as before."""

from __future__ import annotations

import sys

import pytest
from support.fakes.provider import Reply
from support.lsp import editor_session, fenced, lines_range_json

TYPOS = {"typos": {"command": ["typos", "--write-changes", "{file}"], "actions": ["fix-typo"]}}


async def _run_on_the_return_line(editor, action: str, source: str) -> tuple[str, dict]:
    """Open greet.py with `source` and run `action` on its `return` line (line 1)."""
    uri = editor.open("greet.py", source)
    result = await editor.execute(
        "modelrouter.run", {"action": action, "uri": uri, "range": lines_range_json(1, 2)}
    )
    return uri, result


SOURCE = 'def greet(name):\n    return "Helo, " + name\n'
UNKNOWN_TYPO = 'def greet(name):\n    return "Hlelo, " + name\n'


async def test_fix_typo_is_answered_by_the_fixer_without_asking_a_model(tmp_path, fake_provider):
    # A model answer that would be wrong: if any model is asked, the test sees it.
    fake_provider.default("local", Reply(text=fenced('    return "WRONG"\n')))
    async with editor_session(tmp_path, fake_provider, fixers=TYPOS) as editor:
        uri, result = await _run_on_the_return_line(editor, "fix-typo", SOURCE)
        assert result["applied"] is True, result
        assert result["backend"] == "typos"
        assert result["model"].startswith("typos ")
        assert editor.text(uri) == SOURCE.replace("Helo", "Hello")
        assert fake_provider.requests_to("local") == []

        hover = await editor.hover(uri, 1, 12)
        assert hover is not None
        text = hover.contents.value
        assert "(fixer), cost $0" in text and " ms" in text
        assert "fix-typo" in text


async def test_a_typo_the_fixer_does_not_know_goes_to_the_model(tmp_path, fake_provider):
    fixed = '    return "Hello, " + name\n'
    fake_provider.default("local", Reply(text=fenced(fixed)))
    async with editor_session(tmp_path, fake_provider, fixers=TYPOS) as editor:
        uri, result = await _run_on_the_return_line(editor, "fix-typo", UNKNOWN_TYPO)
        assert result["applied"] is True, result
        assert result["backend"] == "local"
        assert len(fake_provider.requests_to("local")) == 1
        assert editor.text(uri) == UNKNOWN_TYPO.replace("Hlelo", "Hello")


async def test_a_fixer_for_another_action_is_not_run(tmp_path, fake_provider):
    fake_provider.default("cloud", Reply(text=fenced('    return "Helo, " + name.strip()\n')))
    async with editor_session(tmp_path, fake_provider, fixers=TYPOS) as editor:
        uri, result = await _run_on_the_return_line(editor, "implement", SOURCE)
        assert result["backend"] == "cloud", result
        assert "name.strip()" in editor.text(uri)


def _rewriting_fixer(new_line: str) -> dict:
    """A user's fixer that turns its copy of the selection (one line) into `new_line`."""
    script = f"import sys; open(sys.argv[1], 'w').write({new_line + chr(10)!r})"
    return {"mine": {"command": [sys.executable, "-c", script, "{file}"], "actions": ["fix-typo"]}}


@pytest.mark.parametrize(
    ("fixer_line", "failed"),
    [
        ('    return "Hello, " + nmae', "ruff"),  # an undefined name
        ('    return "Hello, " +', "syntax"),
    ],
)
async def test_a_fixer_answer_that_fails_a_check_goes_to_the_model(
    tmp_path, fake_provider, fixer_line, failed
):
    fixed = '    return "Hello, " + name\n'
    fake_provider.default("local", Reply(text=fenced(fixed)))
    fixers = _rewriting_fixer(fixer_line)
    async with editor_session(tmp_path, fake_provider, fixers=fixers) as editor:
        uri, result = await _run_on_the_return_line(editor, "fix-typo", SOURCE)
        assert result["applied"] is True, result
        assert result["backend"] == "local"
        assert editor.text(uri) == SOURCE.replace("Helo", "Hello")
        assert len(fake_provider.requests_to("local")) == 1

        hover = await editor.hover(uri, 1, 12)
        assert hover is not None
        text = hover.contents.value
        assert "mine" in text and failed in text, text
