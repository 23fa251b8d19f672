"""Hostile requests through a real LSP client: the server answers each with a clear message
and keeps serving; nothing is applied."""

from __future__ import annotations

from pathlib import Path

from lsprotocol import types
from support.fakes.provider import FakeProvider, Reply
from support.lsp import editor_session, fenced

SOURCE = "def f(x):\n    return x + 1\n"


def pos(line: int, character: int) -> dict:
    return {"line": line, "character": character}


async def test_bogus_requests_get_clear_answers_and_the_server_survives(
    tmp_path: Path, fake_provider: FakeProvider
) -> None:
    fake_provider.default("local", Reply(text=fenced("def f(x):\n    return x + 2\n")))
    async with editor_session(tmp_path, fake_provider) as editor:
        uri = editor.open("f.py", SOURCE)
        bogus_runs = [
            [],
            [5],
            ["fix-typo"],
            [{}],
            [{"action": ["fix-typo"], "uri": uri}],
            [{"action": "fix-typo", "uri": 42}],
            [{"action": "fix-typo", "uri": uri, "range": {"start": pos(-1, 0), "end": "x"}}],
            [{"action": "fix-typo", "uri": uri, "range": {"start": {"line": "a"}, "end": {}}}],
            [{"action": "fix-typo", "uri": uri, "instruction": {"x": 1}}],
            [{"action": "no-such-action", "uri": uri}],
            [{"action": "fix-typo", "uri": "file:///no/such/file.py"}],
            [{"action": "fix-typo", "uri": "untitled:Untitled-9"}],
            [{"action": "ask", "uri": uri}],  # needs an instruction
        ]
        for arguments in bogus_runs:
            result = await editor.execute("modelrouter.run", *arguments)
            assert result["applied"] is False, arguments
            assert result["message"].strip() and "Traceback" not in result["message"]
        for arguments in ([], [3], [{"uri": uri, "position": pos(0, 0)}], [{"uri": None}]):
            result = await editor.execute("modelrouter.redo", *arguments)
            assert result["applied"] is False and result["message"].strip()
        assert editor.applied == []
        assert editor.text(uri) == SOURCE
        assert fake_provider.requests == []

        # Code actions and hover far outside the document, and on documents never opened.
        for target in (uri, "file:///no/such/file.py", "untitled:x"):
            far = types.Range(
                start=types.Position(line=10**6, character=10**6),
                end=types.Position(line=2**31 - 1, character=2**31 - 1),
            )
            actions = await editor.code_actions(target, far)
            assert actions, target
            assert await editor.hover(target, 10**6, 5) is None

        # Edits outside the document, then an ordinary request: still served correctly.
        editor.client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
                content_changes=[
                    types.TextDocumentContentChangePartial(
                        range=types.Range(
                            start=types.Position(line=500, character=3),
                            end=types.Position(line=900, character=0),
                        ),
                        text="",
                    )
                ],
            )
        )
        editor.docs[uri] = (SOURCE, 2)
        status = await editor.execute("modelrouter.status")
        assert status["working"] is False
        whole = {"start": pos(0, 0), "end": pos(2, 0)}
        result = await editor.execute(
            "modelrouter.run", {"action": "fix-typo", "uri": uri, "range": whole}
        )
        assert result["applied"] is True, result
        assert editor.text(uri) == "def f(x):\n    return x + 2\n"
