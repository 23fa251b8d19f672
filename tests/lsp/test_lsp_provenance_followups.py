"""Provenance follows edits and restarts; follow-ups stick to their model; redo and
automatic escalation go one tier up with the first attempt in the transcript."""

from __future__ import annotations

import asyncio
import json

from support.fakes.provider import Reply
from support.lsp import editor_session, fenced, lines_range

SOURCE = "import math\n\n\ndef circle(r):\n    # area of teh circle\n    return math.pi * r * r\n"
RANGE = {"start": {"line": 4, "character": 0}, "end": {"line": 6, "character": 0}}
FIX = "# area of the circle\nreturn math.pi * r * r\n"
FIXED_SOURCE = SOURCE.replace("teh", "the")


async def _fix(editor, uri, action="fix-typo", rng=RANGE):
    return await editor.execute("modelrouter.run", {"action": action, "uri": uri, "range": rng})


async def test_ranges_follow_typing_and_survive_a_restart_when_unchanged(tmp_path, fake_provider):
    fake_provider.default("local", Reply(text=fenced(FIX)))
    async with editor_session(tmp_path, fake_provider) as editor:
        uri = editor.open("circle.py", SOURCE)
        assert (await _fix(editor, uri))["applied"] is True
        assert editor.text(uri) == FIXED_SOURCE
        assert await editor.hover(uri, 4, 6) is not None

        editor.type_text(uri, 1, 0, "import os\nimport sys\n")
        assert await editor.hover(uri, 4, 6) is None  # now the blank line and `def circle`
        moved = await editor.hover(uri, 6, 6)
        assert moved is not None and "tiny-local" in moved.contents.value
        assert moved.range.start.line == 6 and moved.range.end.line == 7
        typed = editor.text(uri)
        (editor.root / "circle.py").write_text(typed)
        editor.client.text_document_did_save(_save_params(uri))

    # A new server process, same data directory: the file is unchanged, so the range is back.
    async with editor_session(tmp_path, fake_provider) as editor:
        uri = editor.open("circle.py", typed)
        again = await editor.hover(uri, 6, 6)
        assert again is not None and "tiny-local" in again.contents.value
        other = editor.open("other.py", typed + "# changed\n")
        assert await editor.hover(other, 6, 6) is None

    async with editor_session(tmp_path, fake_provider) as editor:
        uri = editor.open("circle.py", typed.replace("area", "size"))
        assert await editor.hover(uri, 6, 6) is None  # file changed: stale provenance dropped


async def test_an_edit_the_client_reports_late_still_gets_its_provenance(tmp_path, fake_provider):
    # Neovim sends the applied edit's didChange only once a Visual selection ends, which can
    # be long after the server stopped waiting for it.
    fake_provider.default("local", Reply(text=fenced(FIX)))
    async with editor_session(tmp_path, fake_provider) as editor:
        editor.report_delay = 3.0
        uri = editor.open("circle.py", SOURCE)
        assert (await _fix(editor, uri))["applied"] is True
        assert editor.text(uri) == FIXED_SOURCE
        hover = None
        for _ in range(40):
            hover = await editor.hover(uri, 4, 6)
            if hover is not None:
                break
            await asyncio.sleep(0.1)
        assert hover is not None and "tiny-local" in hover.contents.value
        assert hover.range.start.line == 4 and hover.range.end.line == 5


async def test_a_late_report_after_typing_elsewhere_places_provenance_on_the_moved_lines(
    tmp_path, fake_provider
):
    # The user's typing above the range reaches the server before the edit's own report.
    fake_provider.default("local", Reply(text=fenced(FIX), first_delay=0.5))
    async with editor_session(tmp_path, fake_provider) as editor:
        editor.report_delay = 1.0
        uri = editor.open("circle.py", SOURCE)
        running = asyncio.ensure_future(_fix(editor, uri))
        await asyncio.sleep(0.2)
        editor.type_text(uri, 1, 0, "import os\n")
        result = await running
        assert result["applied"] is True and "re-anchored" in result["message"]
        assert editor.text(uri) == FIXED_SOURCE.replace("\n\n", "\nimport os\n\n", 1)
        hover = await _hover_when_placed(editor, uri, 5, 6)
        assert hover is not None and "tiny-local" in hover.contents.value
        assert hover.range.start.line == 5 and hover.range.end.line == 6


async def test_closing_a_document_drops_provenance_waiting_for_its_report(tmp_path, fake_provider):
    fake_provider.default("local", Reply(text=fenced(FIX)))
    async with editor_session(tmp_path, fake_provider) as editor:
        editor.report_delay = 5.0
        uri = editor.open("circle.py", SOURCE)
        assert (await _fix(editor, uri))["applied"] is True
        editor.close(uri)
        # Reopened with the edited text: its first change must not place the old record.
        reopened = editor.open("circle.py", FIXED_SOURCE)
        editor.type_text(reopened, 6, 0, "# end\n")
        assert await _hover_when_placed(editor, reopened, 4, 6, tries=10) is None


async def _hover_when_placed(editor, uri, line, character, tries=40):
    for _ in range(tries):
        hover = await editor.hover(uri, line, character)
        if hover is not None:
            return hover
        await asyncio.sleep(0.1)
    return None


async def test_follow_up_on_model_written_code_stays_on_its_model(tmp_path, fake_provider):
    fake_provider.reply("cloud", Reply(text=fenced(FIX)))
    fake_provider.default(
        "cloud", Reply(text=fenced("# area of the circle (pi r squared)\nreturn math.pi * r * r\n"))
    )
    fake_provider.default("local", Reply(text=fenced("# should not be asked\nreturn 0\n")))
    async with editor_session(tmp_path, fake_provider) as editor:
        uri = editor.open("circle.py", SOURCE)
        first = await _fix(editor, uri, action="implement")
        assert first["backend"] == "cloud"
        # A trivial follow-up on the code cloud-mid wrote stays with cloud-mid ...
        follow = await _fix(editor, uri, action="fix-typo")
        assert follow["applied"] is True and follow["backend"] == "cloud", follow
        assert fake_provider.requests_to("local") == []
        # ... and carries the conversation so far.
        messages = fake_provider.requests_to("cloud")[1].body["messages"]
        roles = [m["role"] for m in messages]
        assert roles == ["system", "user", "assistant", "user"]
        assert "area of the circle" in messages[2]["content"]


async def test_follow_up_whose_tier_rises_moves_up_with_the_transcript(tmp_path, fake_provider):
    fake_provider.default("local", Reply(text=fenced(FIX)))
    fake_provider.default("cloud", Reply(text=fenced("# area\nreturn math.pi * r ** 2\n")))
    async with editor_session(tmp_path, fake_provider) as editor:
        uri = editor.open("circle.py", SOURCE)
        assert (await _fix(editor, uri))["backend"] == "local"
        result = await _fix(editor, uri, action="implement")
        assert result["backend"] == "cloud" and result["tier"] == "feature"
        sent = json.dumps(fake_provider.requests_to("cloud")[0].body["messages"])
        assert "area of the circle" in sent  # the local model's answer came along


async def test_redo_with_a_stronger_model_goes_one_tier_up(tmp_path, fake_provider):
    fake_provider.default("local", Reply(text=fenced(FIX)))
    fake_provider.default("cloud", Reply(text=fenced("# circle area\nreturn math.pi * r**2\n")))
    async with editor_session(tmp_path, fake_provider) as editor:
        uri = editor.open("circle.py", SOURCE)
        await _fix(editor, uri)
        actions = await editor.code_actions(uri, lines_range(4, 5))
        redo = next(a for a in actions if a.title.startswith("Redo with a stronger model"))
        assert redo.title == "Redo with a stronger model  ·  feature → cloud-mid"
        assert redo.command.command == "modelrouter.redo"
        result = await editor.execute("modelrouter.redo", *redo.command.arguments)
        assert result["applied"] is True and result["backend"] == "cloud"
        assert "return math.pi * r**2" in editor.text(uri)
        sent = fake_provider.requests_to("cloud")[0].body["messages"]
        assert any(m["role"] == "assistant" and "area of the circle" in m["content"] for m in sent)
        hover = await editor.hover(uri, 4, 4)
        assert "cloud-mid" in hover.contents.value
        assert "redo" in hover.contents.value.lower()


async def test_trivial_python_that_does_not_parse_escalates_once(tmp_path, fake_provider):
    fake_provider.default(
        "local", Reply(text=fenced("# area of the circle\nreturn math.pi * (r * r\n"))
    )
    fake_provider.default("cloud", Reply(text=fenced(FIX)))
    async with editor_session(tmp_path, fake_provider) as editor:
        uri = editor.open("circle.py", SOURCE)
        result = await _fix(editor, uri)
        assert result["applied"] is True
        assert result["backend"] == "cloud" and result["tier"] == "feature"
        assert editor.text(uri) == FIXED_SOURCE
        hover = (await editor.hover(uri, 5, 4)).contents.value
        assert "Escalated:" in hover and "did not parse" in hover and "tiny-local" in hover
        # The stronger model saw the broken attempt and why it failed.
        sent = fake_provider.requests_to("cloud")[0].body["messages"]
        assert "does not parse" in sent[-1]["content"]


def _save_params(uri):
    from lsprotocol import types

    return types.DidSaveTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=uri))
