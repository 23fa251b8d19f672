"""Fix typo end to end: model on loopback -> exact workspace/applyEdit -> hover provenance."""

from __future__ import annotations

import json

from lsprotocol import types
from support.fakes.provider import Reply
from support.lsp import editor_session, fenced, lines_range, lines_range_json, wait_for

SOURCE = '''import os


def greet(name):
    """Retrun a greting."""
    return "Helo, " + name


def other():
    return os.getcwd()
'''
FIXED = '''def greet(name):
    """Return a greeting."""
    return "Hello, " + name
'''
# Small models often drop the indentation of a snippet; the edit must restore it.
FIXED_BODY_DEDENTED = '''"""Return a greeting."""
return "Hello, " + name
'''
FIXED_BODY = '''    """Return a greeting."""
    return "Hello, " + name
'''


async def test_fix_typo_applies_the_exact_edit_and_hover_names_the_model(tmp_path, fake_provider):
    fake_provider.default("local", Reply(text=fenced(FIXED_BODY_DEDENTED)))
    async with editor_session(tmp_path, fake_provider) as editor:
        uri = editor.open("greet.py", SOURCE)
        result = await editor.execute(
            "modelrouter.run",
            {"action": "fix-typo", "uri": uri, "range": lines_range_json(4, 6)},
        )
        assert result["applied"] is True, result
        assert (result["backend"], result["model"], result["tier"]) == (
            "local",
            "tiny-local",
            "trivial",
        )

        # Exactly one edit: a versioned replacement of lines 4-5, re-indented, annotated.
        assert len(editor.applied) == 1
        edit = editor.applied[0].edit
        (change,) = edit.document_changes
        assert change.text_document.uri == uri
        assert change.text_document.version == 1
        (text_edit,) = change.edits
        assert text_edit.range == lines_range(4, 6)
        assert text_edit.new_text == FIXED_BODY
        assert isinstance(text_edit, types.AnnotatedTextEdit)
        annotation = edit.change_annotations[text_edit.annotation_id]
        assert "tiny-local" in annotation.label
        assert annotation.needs_confirmation is False
        assert editor.text(uri) == SOURCE.replace(
            '    """Retrun a greting."""\n    return "Helo, " + name\n',
            '    """Return a greeting."""\n    return "Hello, " + name\n',
        )

        # The model saw the selection, its enclosing function and the imports.
        (request,) = fake_provider.requests_to("local")
        prompt = json.dumps(request.body["messages"])
        assert "Retrun a greting" in prompt
        assert "import os" in prompt
        assert "function definition `greet`" in prompt

        hover = await editor.hover(uri, 4, 8)
        assert hover is not None
        text = hover.contents.value
        assert "tiny-local" in text and "`local`" in text
        assert "trivial" in text
        assert "Tokens:" in text and "Latency:" in text
        # Outside the written range there is nothing to say.
        assert await editor.hover(uri, 9, 4) is None


async def test_progress_reports_backend_and_tokens_then_ends(tmp_path, fake_provider):
    fake_provider.default("local", Reply(text=fenced(FIXED), chunk_size=4, delay=0.03))
    async with editor_session(tmp_path, fake_provider) as editor:
        uri = editor.open("greet.py", SOURCE)
        result = await editor.execute(
            "modelrouter.run",
            {"action": "fix-typo", "uri": uri, "range": lines_range_json(3, 6)},
        )
        assert result["applied"] is True
        (reports,) = editor.client.progress_reports.values()
        assert isinstance(reports[0], types.WorkDoneProgressBegin)
        assert reports[0].cancellable is True
        assert "tiny-local" in reports[0].title
        middle = [r.message for r in reports[1:-1]]
        assert any("asking local" in m for m in middle)
        assert any("tokens" in m for m in middle)
        assert isinstance(reports[-1], types.WorkDoneProgressEnd)
        assert "local" in reports[-1].message
        # The status notification said we were working on the local model, then idle.
        assert any(s["working"] and s["backend"] == "local" for s in editor.status)
        await wait_for(lambda: not editor.status[-1]["working"])
        assert editor.status[-1]["last_model"] == "tiny-local"


async def test_a_fallback_shows_in_the_hover(tmp_path, fake_provider):
    fake_provider.default("local", Reply(status=503))
    fake_provider.default("cloud", Reply(text=fenced(FIXED)))
    async with editor_session(tmp_path, fake_provider) as editor:
        uri = editor.open("greet.py", SOURCE)
        result = await editor.execute(
            "modelrouter.run",
            {"action": "fix-typo", "uri": uri, "range": lines_range_json(3, 6)},
        )
        assert result["applied"] is True
        assert result["backend"] == "cloud"
        hover = await editor.hover(uri, 5, 4)
        text = hover.contents.value
        assert "cloud-mid" in text
        assert "Fallbacks:" in text and "local failed" in text


async def test_a_reply_without_code_changes_nothing_and_says_why(tmp_path, fake_provider):
    fake_provider.default("local", Reply(text="I think the code looks fine as it is."))
    async with editor_session(tmp_path, fake_provider) as editor:
        uri = editor.open("greet.py", SOURCE)
        result = await editor.execute(
            "modelrouter.run",
            {"action": "fix-typo", "uri": uri, "range": lines_range_json(3, 6)},
        )
        assert result["applied"] is False
        assert "no fenced code block" in result["message"]
        assert editor.applied == []
        assert editor.text(uri) == SOURCE
        await wait_for(lambda: editor.client.messages)
        assert "nothing was changed" in editor.client.messages[-1].message


async def test_fix_typo_for_a_neovim_client(tmp_path, fake_provider):
    """Neovim 0.11's capabilities: no change annotations, no disabled actions; progress and
    hover work the same."""
    from pytest_lsp import client_capabilities

    fake_provider.default("local", Reply(text=fenced(FIXED_BODY_DEDENTED)))
    caps = client_capabilities("neovim@v0.11")
    async with editor_session(tmp_path, fake_provider, capabilities=caps) as editor:
        uri = editor.open("greet.py", SOURCE)
        actions = await editor.code_actions(uri, lines_range(4, 6))
        assert all(a.disabled is None for a in actions)
        fix = next(a for a in actions if a.data["action"] == "fix-typo")
        result = await editor.execute("modelrouter.run", *fix.command.arguments)
        assert result["applied"] is True
        (change,) = editor.applied[0].edit.document_changes
        assert type(change.edits[0]) is types.TextEdit
        assert change.edits[0].new_text == FIXED_BODY
        assert editor.client.progress_reports
        hover = await editor.hover(uri, 4, 8)
        assert "tiny-local" in hover.contents.value


async def test_a_reply_echoing_context_on_top_level_code_changes_only_that_line(
    tmp_path, fake_provider
):
    source = "import sys\nimport os  # operatng system\n" + "".join(
        f"x{i} = {i}\n" for i in range(16)
    )
    reply = "import sys\nimport os  # operating system\n"
    fake_provider.default("local", Reply(text=fenced(reply)))
    async with editor_session(tmp_path, fake_provider) as editor:
        uri = editor.open("top.py", source)
        result = await editor.execute(
            "modelrouter.run",
            {"action": "fix-typo", "uri": uri, "range": lines_range_json(1, 2)},
        )
        assert result["applied"] is True, result
        assert editor.text(uri) == source.replace("operatng", "operating")
