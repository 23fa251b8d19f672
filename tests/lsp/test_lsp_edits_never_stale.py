"""Typing while the model works never corrupts the document: re-anchor or refuse."""

from __future__ import annotations

import asyncio

from support.fakes.provider import Reply
from support.lsp import editor_session, fenced, lines_range, wait_for

SOURCE = """import os


def area(w, h):
    # compute teh area
    return w * h


def perimeter(w, h):
    return 2 * (w + h)
"""
REPLY = "# compute the area\nreturn w * h\n"
FIXED = "    # compute the area\n    return w * h\n"
RANGE = {"start": {"line": 4, "character": 0}, "end": {"line": 6, "character": 0}}


async def _start_slow_run(editor, fake_provider, uri):
    task = asyncio.ensure_future(
        editor.execute("modelrouter.run", {"action": "fix-typo", "uri": uri, "range": RANGE})
    )
    # The model has been asked and is streaming slowly.
    await wait_for(lambda: fake_provider.requests_to("local"))
    return task


async def test_typing_above_the_range_during_a_slow_reply_re_anchors(tmp_path, fake_provider):
    fake_provider.default("local", Reply(text=fenced(REPLY), chunk_size=3, delay=0.05))
    async with editor_session(tmp_path, fake_provider) as editor:
        uri = editor.open("geo.py", SOURCE)
        task = await _start_slow_run(editor, fake_provider, uri)
        editor.type_text(uri, 1, 0, "import sys\nimport math\n")
        editor.type_text(uri, 10, 0, "# trailing note\n")
        result = await task
        assert result["applied"] is True, result
        assert "re-anchored" in result["message"]

        (change,) = editor.applied[0].edit.document_changes
        assert change.text_document.version == 3  # the version after the typing
        assert change.edits[0].range == lines_range(6, 8)  # moved down by two lines
        expected = (
            SOURCE.replace("import os\n", "import os\nimport sys\nimport math\n")
            .replace("    # compute teh area\n    return w * h\n", FIXED)
            .replace("def perimeter", "# trailing note\ndef perimeter")
        )
        assert editor.text(uri) == expected
        # Provenance sits on the re-anchored lines.
        hover = await editor.hover(uri, 6, 6)
        assert hover is not None and "tiny-local" in hover.contents.value


async def test_editing_inside_the_range_during_a_reply_refuses_the_edit(tmp_path, fake_provider):
    fake_provider.default("local", Reply(text=fenced(REPLY), chunk_size=3, delay=0.05))
    async with editor_session(tmp_path, fake_provider) as editor:
        uri = editor.open("geo.py", SOURCE)
        task = await _start_slow_run(editor, fake_provider, uri)
        editor.type_text(uri, 5, 16, " + 0")  # the user changes the very code being fixed
        typed = editor.text(uri)
        result = await task
        assert result["applied"] is False
        assert "changed while the model worked" in result["message"]
        assert editor.applied == []
        assert editor.text(uri) == typed


async def test_an_edit_racing_the_users_typing_is_rejected_by_version(tmp_path, fake_provider):
    """The edit names the document version it was computed for; an editor that has moved on
    rejects it, and the server reports that nothing changed."""
    fake_provider.default("local", Reply(text=fenced(REPLY)))
    async with editor_session(tmp_path, fake_provider) as editor:
        uri = editor.open("geo.py", SOURCE)
        original_apply = editor.apply_edit

        async def type_then_apply(params):
            editor.type_text(uri, 0, 0, "#!/usr/bin/env python\n")
            return await original_apply(params)

        editor.apply_edit = type_then_apply
        result = await editor.execute(
            "modelrouter.run", {"action": "fix-typo", "uri": uri, "range": RANGE}
        )
        assert result["applied"] is False
        assert editor.rejected and "version" in result["message"]
        assert "teh area" in editor.text(uri)
