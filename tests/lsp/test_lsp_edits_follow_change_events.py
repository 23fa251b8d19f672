"""An edit lands on the user's selection as moved by their own edits, or not at all.

The selection is followed through the document's change events: never re-found by its
text, so a twin of the selected line elsewhere is never edited. Documents whose lines hold
characters Python's `splitlines` treats as line ends (form feed, U+2028, `\\x85`, ...) and
files with lone `\\r` line ends are numbered the way the editor numbers them.
"""

from __future__ import annotations

import asyncio

import pytest
from support.fakes.provider import Reply
from support.lsp import editor_session, fenced, lines_range_json, wait_for

TWINS = """def a():
    return teh_value


def b():
    return teh_value
"""
FIX = "return the_value\n"


async def _slow_run(editor, fake_provider, uri, rng):
    task = asyncio.ensure_future(
        editor.execute("modelrouter.run", {"action": "fix-typo", "uri": uri, "range": rng})
    )
    await wait_for(lambda: fake_provider.requests_to("local"))
    return task


@pytest.mark.parametrize(
    ("what", "edit"),
    [
        ("append to the selected line", ("type", 1, 20, " + 1")),
        ("delete the selected line", ("delete", 1, 2)),
        ("retype the selected line identically", ("replace", 1, 2, "    return teh_value\n")),
    ],
)
async def test_editing_the_selection_never_moves_the_edit_to_its_twin(
    tmp_path, fake_provider, what, edit
):
    fake_provider.default("local", Reply(text=fenced(FIX), chunk_size=3, delay=0.05))
    async with editor_session(tmp_path, fake_provider) as editor:
        uri = editor.open("twins.py", TWINS)
        task = await _slow_run(editor, fake_provider, uri, lines_range_json(1, 2))
        if edit[0] == "type":
            editor.type_text(uri, edit[1], edit[2], edit[3])
        else:
            text = edit[3] if edit[0] == "replace" else ""
            editor._change(uri, _lines(edit[1], edit[2]), text)
        typed = editor.text(uri)
        result = await task
        assert result["applied"] is False, (what, result)
        assert "changed while the model worked" in result["message"]
        assert editor.applied == []
        assert editor.text(uri) == typed
        assert "b():\n    return teh_value" in editor.text(uri)


async def test_typing_elsewhere_moves_the_edit_with_the_selection(tmp_path, fake_provider):
    fake_provider.default("local", Reply(text=fenced(FIX), chunk_size=3, delay=0.05))
    async with editor_session(tmp_path, fake_provider) as editor:
        uri = editor.open("twins.py", TWINS)
        task = await _slow_run(editor, fake_provider, uri, lines_range_json(5, 6))
        editor.type_text(uri, 0, 0, "import os\n\n\n")  # above: moves b() down by 3
        editor.type_text(uri, 4, 20, " + 1")  # inside a(), not the selection
        result = await task
        assert result["applied"] is True, result
        assert editor.text(uri) == (
            "import os\n\n\ndef a():\n    return teh_value + 1\n\n\ndef b():\n"
            "    return the_value\n"
        )


# Characters Python ends lines at but LSP (and every editor) keeps inside a line.
SEPARATORS = ["\x0c", "\x0b", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"]


@pytest.mark.parametrize("sep", SEPARATORS, ids=[f"U+{ord(c):04X}" for c in SEPARATORS])
async def test_lines_holding_non_lsp_separators_keep_the_users_typing(tmp_path, fake_provider, sep):
    source = f"# section{sep}one\ns = 'x{sep}y'\n\ndef f():\n    return teh_value\n"
    fake_provider.default("local", Reply(text=fenced(FIX), chunk_size=3, delay=0.05))
    async with editor_session(tmp_path, fake_provider) as editor:
        uri = editor.open("seps.py", source)
        task = await _slow_run(editor, fake_provider, uri, lines_range_json(4, 5))
        editor.type_text(uri, 1, 11, "  # typed")  # after the separator, on line 1
        editor.type_text(uri, 3, 0, "@decorator\n")
        result = await task
        assert result["applied"] is True, result
        assert editor.text(uri) == (
            f"# section{sep}one\n"
            f"s = 'x{sep}y'  # typed\n"
            "\n"
            "@decorator\n"
            "def f():\n"
            "    return the_value\n"
        )
        hover = await editor.hover(uri, 5, 6)
        assert hover is not None and "tiny-local" in hover.contents.value


@pytest.mark.parametrize(
    ("line", "reply"),
    [
        (0, "x = the_value\ny = teh_value\n"),  # the model echoes the next line
        (2, "z = the_value\n"),
    ],
)
async def test_lone_carriage_return_files_are_edited_in_place(tmp_path, fake_provider, line, reply):
    source = "x = teh_value\ry = teh_value\rz = teh_value\r"
    fake_provider.default("local", Reply(text=fenced(reply)))
    async with editor_session(tmp_path, fake_provider) as editor:
        uri = editor.open("cr.py", source)
        result = await editor.execute(
            "modelrouter.run",
            {"action": "fix-typo", "uri": uri, "range": lines_range_json(line, line + 1)},
        )
        assert result["applied"] is True, result
        lines = source.split("\r")
        lines[line] = lines[line].replace("teh", "the")
        assert editor.text(uri) == "\r".join(lines)


def _lines(first: int, last_exclusive: int):
    from support.lsp import lines_range

    return lines_range(first, last_exclusive)
