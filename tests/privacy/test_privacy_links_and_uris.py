"""`local_only` cannot be sidestepped: symlinks to protected files or folders, and editor
documents that are not files here (untitled:, git:, vscode-remote:) stay on the machine;
`modelrouter.run` enforces exactly what the code-action listing shows."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from lsprotocol import types
from modelrouter.config import PrivacySettings
from modelrouter.privacy import document_local_only_reason, is_local_only, local_only_reason
from support.fakes.provider import FakeProvider, Reply
from support.lsp import editor_session, fenced, lines_range, lines_range_json

DEFAULTS = PrivacySettings()
SECRET = "API_TOKEN=tok-Hs82Kd91Lq\n"


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    (root / "secrets").mkdir(parents=True)
    (root / ".env").write_text(SECRET)
    (root / "secrets" / "db.yaml").write_text("password: pw-Lq84Jd72Ks\n")
    os.symlink(root / ".env", root / "notes.txt")
    os.symlink("secrets", root / "cfg")  # a relative directory link
    return root


def test_a_file_symlink_to_a_protected_file_is_protected(ws: Path) -> None:
    assert is_local_only(ws / "notes.txt", DEFAULTS, workspace=ws)
    assert is_local_only((ws / "notes.txt").as_uri(), DEFAULTS, workspace=ws)
    assert is_local_only("notes.txt", DEFAULTS, workspace=ws)  # relative to the workspace
    reason = local_only_reason([ws / "notes.txt"], DEFAULTS, workspace=ws)
    assert reason is not None and "notes.txt is a link to" in reason and "'.env*'" in reason


def test_a_directory_symlink_to_a_protected_folder_is_protected(ws: Path) -> None:
    assert is_local_only(ws / "cfg" / "db.yaml", DEFAULTS, workspace=ws)
    assert is_local_only((ws / "cfg" / "db.yaml").as_uri(), DEFAULTS, workspace=ws)


def test_ordinary_files_and_links_to_them_may_leave(ws: Path) -> None:
    (ws / "app.py").write_text("x = 1\n")
    os.symlink(ws / "app.py", ws / "link.py")
    assert not is_local_only(ws / "app.py", DEFAULTS, workspace=ws)
    assert not is_local_only(ws / "link.py", DEFAULTS, workspace=ws)


@pytest.mark.parametrize(
    "uri",
    [
        "untitled:/home/dev/project/.env",
        "untitled:.env.local",
        "git:/home/dev/project/.env?%7B%22path%22%3A%22%2Fhome%2Fdev%2Fproject%2F.env%22%7D",
        "vscode-remote://ssh-remote%2Bbox/home/dev/project/.env",
        "vscode-remote://wsl%2Bubuntu/home/dev/project/secrets/db.yaml",
        "vscode-vfs://github/org/repo/certs/server.pem",
        "untitled:",  # no path: where it comes from cannot be established
        "untitled:%20",
    ],
)
def test_documents_that_are_not_local_files_are_matched_on_their_uri_path(uri: str) -> None:
    assert document_local_only_reason(uri, DEFAULTS, workspace="/home/dev/project") is not None


@pytest.mark.parametrize(
    "uri",
    ["untitled:Untitled-1", "git:/home/dev/project/app.py?%7B%7D", "vscode-remote://h/x/app.py"],
)
def test_ordinary_non_file_documents_may_leave(uri: str) -> None:
    assert document_local_only_reason(uri, DEFAULTS, workspace="/home/dev/project") is None


def _open_uri(editor, uri: str, text: str, language_id: str = "dotenv") -> str:
    editor.docs[uri] = (text, 1)
    editor.client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(
                uri=uri, language_id=language_id, version=1, text=text
            )
        )
    )
    return uri


async def test_run_enforces_what_the_listing_shows_for_links_and_other_uris(
    tmp_path: Path, fake_provider: FakeProvider
) -> None:
    fake_provider.default("local", Reply(text=fenced("API_TOKEN=tok-Hs82Kd91Lq\n", "")))
    async with editor_session(tmp_path, fake_provider) as editor:
        root = editor.root
        (root / ".env").write_text(SECRET)
        (root / "secrets").mkdir()
        (root / "secrets" / "db.yaml").write_text(SECRET)
        os.symlink(root / ".env", root / "notes.txt")
        os.symlink(root / "secrets", root / "cfg")
        uris = [
            _open_uri(editor, (root / "notes.txt").as_uri(), SECRET, "plaintext"),
            _open_uri(editor, (root / "cfg" / "db.yaml").as_uri(), SECRET, "yaml"),
            _open_uri(editor, "untitled:/home/dev/project/.env", SECRET),
            _open_uri(editor, "git:/home/dev/project/.env?%7B%22ref%22%3A%22HEAD%22%7D", SECRET),
            _open_uri(editor, "vscode-remote://ssh-remote%2Bbox/home/dev/.env", SECRET),
        ]
        for uri in uris:
            actions = await editor.code_actions(uri, lines_range(0, 1))
            listed = {a.data["action"]: a for a in actions}
            # feature: [cloud, strong] — no local backend: disabled in the list ...
            assert "stay on this machine" in listed["implement"].disabled.reason, uri
            assert listed["fix-typo"].disabled is None, uri
            # ... and refused when run anyway (a client may send the command regardless).
            refused = await editor.execute(
                "modelrouter.run",
                {"action": "implement", "uri": uri, "range": lines_range_json(0, 1)},
            )
            assert refused["applied"] is False, uri
            assert "stay on this machine" in refused["message"], uri
            # trivial: [local, cloud] — goes to the local backend only.
            result = await editor.execute(
                "modelrouter.run",
                {"action": "explain", "uri": uri, "range": lines_range_json(0, 1)},
            )
            assert result.get("backend") == "local", (uri, result)
    assert fake_provider.requests_to("cloud") == []
    assert fake_provider.requests_to("strong") == []
    assert len(fake_provider.requests_to("local")) == len(uris)
