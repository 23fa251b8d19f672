"""write-tests creates or extends the test file; design writes a note; ask/explain answers."""

from __future__ import annotations

import json
from pathlib import Path

from lsprotocol import types
from pytest_lsp import client_capabilities
from support.fakes.provider import Reply
from support.lsp import editor_session, fenced, lines_range, wait_for

SOURCE = "def add(a, b):\n    return a + b\n"
TESTS = "from calc import add\n\n\ndef test_add():\n    assert add(1, 2) == 3\n"
MORE_TESTS = "from calc import add\n\n\ndef test_add_negative():\n    assert add(-1, -2) == -3\n"


async def test_write_tests_creates_the_conventional_test_file(tmp_path, fake_provider):
    fake_provider.default("strong", Reply(text=fenced(TESTS)))
    async with editor_session(tmp_path, fake_provider) as editor:
        uri = editor.open("calc.py", SOURCE)
        result = await editor.execute(
            "modelrouter.run",
            {"action": "write-tests", "uri": uri, "range": _json(lines_range(0, 2))},
        )
        assert result["applied"] is True, result
        target = editor.root / "tests" / "test_calc.py"
        create, insert = editor.applied[0].edit.document_changes
        assert isinstance(create, types.CreateFile)
        assert create.uri == target.as_uri()
        assert insert.text_document.uri == target.as_uri()
        assert insert.edits[0].new_text == TESTS
        assert target.read_text() == TESTS
        # The model was told where the tests go.
        prompt = json.dumps(fake_provider.requests_to("strong")[0].body)
        assert "tests/test_calc.py" in prompt


async def test_write_tests_extends_an_existing_test_file_without_duplicate_imports(
    tmp_path, fake_provider
):
    fake_provider.default("strong", Reply(text=fenced(MORE_TESTS)))
    async with editor_session(tmp_path, fake_provider) as editor:
        (editor.root / "tests").mkdir()
        (editor.root / "tests" / "test_calc.py").write_text(TESTS)
        uri = editor.open("calc.py", SOURCE)
        result = await editor.execute(
            "modelrouter.run",
            {"action": "write-tests", "uri": uri, "range": _json(lines_range(0, 2))},
        )
        assert result["applied"] is True, result
        (append,) = editor.applied[0].edit.document_changes
        assert append.edits[0].range.start == types.Position(line=5, character=0)
        final = (editor.root / "tests" / "test_calc.py").read_text()
        assert final.count("from calc import add") == 1
        assert "def test_add():" in final and "def test_add_negative():" in final
        assert "\n\n\ndef test_add_negative" in final


async def test_design_writes_a_note_in_the_configured_folder_and_shows_it(tmp_path, fake_provider):
    note = "# Caching layer\n\n## Options\n\n1. LRU in process\n2. Redis\n"
    fake_provider.default("strong", Reply(text=note))
    async with editor_session(tmp_path, fake_provider) as editor:
        uri = editor.open("calc.py", SOURCE)
        result = await editor.execute(
            "modelrouter.run", {"action": "design", "uri": uri, "range": _json(lines_range(0, 2))}
        )
        assert result["applied"] is True, result
        path = editor.root / "notes" / "design" / "caching-layer.md"
        assert path.read_text() == note
        await wait_for(lambda: editor.client.shown_documents)
        assert editor.client.shown_documents[-1].uri == path.as_uri()


async def test_ask_without_code_shows_the_answer_and_changes_nothing(tmp_path, fake_provider):
    fake_provider.default("local", Reply(text="It adds two numbers."))
    async with editor_session(tmp_path, fake_provider) as editor:
        uri = editor.open("calc.py", SOURCE)
        result = await editor.execute(
            "modelrouter.run",
            {"action": "explain", "uri": uri, "range": _json(lines_range(0, 2))},
        )
        assert result["applied"] is False
        assert result["answer"] == "It adds two numbers."
        assert editor.applied == []
        await wait_for(lambda: editor.client.shown_documents)
        shown = editor.client.shown_documents[-1].uri
        assert shown.endswith(".md")
        assert editor.text(uri) == SOURCE


async def test_ask_routes_by_the_instruction(tmp_path, fake_provider):
    fake_provider.default("cloud", Reply(text=fenced("def add(a, b):\n    return b + a\n")))
    async with editor_session(tmp_path, fake_provider) as editor:
        uri = editor.open("calc.py", SOURCE)
        missing = await editor.execute(
            "modelrouter.run", {"action": "ask", "uri": uri, "range": _json(lines_range(0, 2))}
        )
        assert missing["applied"] is False and "needs an instruction" in missing["message"]
        result = await editor.execute(
            "modelrouter.run",
            {
                "action": "ask",
                "uri": uri,
                "range": _json(lines_range(0, 2)),
                "instruction": "implement it the other way round",
            },
        )
        assert result["tier"] == "feature" and result["backend"] == "cloud"
        assert "implement it the other way round" in json.dumps(
            fake_provider.requests_to("cloud")[0].body
        )


async def test_ask_answered_in_prose_shows_the_answer_and_changes_nothing(tmp_path, fake_provider):
    answer = "It is slow because it recomputes the sum on every call; cache it."
    fake_provider.default("cloud", Reply(text=answer))
    async with editor_session(tmp_path, fake_provider) as editor:
        uri = editor.open("calc.py", SOURCE)
        result = await editor.execute(
            "modelrouter.run",
            {
                "action": "ask",
                "uri": uri,
                "range": _json(lines_range(0, 2)),
                "instruction": "implement? no - why is this slow",
            },
        )
        assert result["applied"] is False
        assert result["answer"] == answer
        assert editor.applied == []
        assert editor.text(uri) == SOURCE
        await wait_for(lambda: editor.client.shown_documents)
        shown = editor.client.shown_documents[-1].uri
        assert answer in Path(shown.removeprefix("file://")).read_text()


def _json(rng: types.Range) -> dict:
    return {
        "start": {"line": rng.start.line, "character": rng.start.character},
        "end": {"line": rng.end.line, "character": rng.end.character},
    }


async def test_tests_appended_to_an_open_test_file_carry_provenance(tmp_path, fake_provider):
    fake_provider.default("strong", Reply(text=fenced(MORE_TESTS)))
    async with editor_session(tmp_path, fake_provider) as editor:
        test_uri = editor.open("tests/test_calc.py", TESTS)
        uri = editor.open("calc.py", SOURCE)
        result = await editor.execute(
            "modelrouter.run",
            {"action": "write-tests", "uri": uri, "range": _json(lines_range(0, 2))},
        )
        assert result["applied"] is True, result
        (append,) = editor.applied[0].edit.document_changes
        assert append.text_document.version == 1
        text = editor.text(test_uri)
        assert text.startswith(TESTS) and "def test_add_negative" in text
        line = text.splitlines().index("def test_add_negative():")
        hover = await editor.hover(test_uri, line, 4)
        assert hover is not None and "strong-coder" in hover.contents.value
        assert await editor.hover(test_uri, 3, 4) is None  # the test that was there before


async def test_a_new_test_file_is_created_with_its_folder_not_skipped_if_missing(
    tmp_path, fake_provider
):
    """`ignoreIfExists` lets a client skip the creation (Neovim then never makes the folder
    or the file); the server only creates files it found missing, so it asks for a plain
    create that fails rather than overwrite."""
    fake_provider.default("strong", Reply(text=fenced(TESTS)))
    async with editor_session(tmp_path, fake_provider) as editor:
        uri = editor.open("calc.py", SOURCE)
        assert not (editor.root / "tests").exists()
        result = await editor.execute(
            "modelrouter.run",
            {"action": "write-tests", "uri": uri, "range": _json(lines_range(0, 2))},
        )
        assert result["applied"] is True, result
        create = editor.applied[0].edit.document_changes[0]
        assert isinstance(create, types.CreateFile)
        assert not (create.options and create.options.ignore_if_exists)
        assert not (create.options and create.options.overwrite)


async def test_a_client_that_shows_answers_itself_is_not_sent_the_answer_file(
    tmp_path, fake_provider
):
    """Opening the answer file would attach the client's server to it (Neovim starts a
    second server with no root); a client declaring `experimental.modelrouter.showAnswers`
    gets the answer in the result only."""
    fake_provider.default("local", Reply(text="It adds two numbers."))
    caps = client_capabilities("visual-studio-code")
    caps.experimental = {"modelrouter": {"showAnswers": True}}
    async with editor_session(tmp_path, fake_provider, capabilities=caps) as editor:
        uri = editor.open("calc.py", SOURCE)
        result = await editor.execute(
            "modelrouter.run",
            {"action": "explain", "uri": uri, "range": _json(lines_range(0, 2))},
        )
        assert result["answer"] == "It adds two numbers."
        # Anything shown would have been requested before the result came back.
        assert editor.client.shown_documents == []
        assert editor.applied == []
