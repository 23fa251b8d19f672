"""A real LSP client (pytest-lsp) driving `modelrouter lsp` in a subprocess.

The client behaves like an editor where the tests need it to: it keeps its own copy of
open documents, answers `workspace/applyEdit` by applying versioned edits to that copy (and
rejecting edits for a version it no longer has, as VS Code does), then reports the change
with `didChange`, and it records everything the server sends.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, Union

import yaml
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

from support.fakes.provider import FakeProvider


def write_rules(
    path: Path,
    fake: FakeProvider,
    *,
    tiers: dict[str, list[str]] | None = None,
    edit: dict[str, Any] | None = None,
    fixers: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
    scope_checked: bool = False,
) -> Path:
    """A rules file whose backends all point at the fake provider (and no fixers unless
    `fixers` names some, so the models answer). `extra` adds or replaces top-level keys
    (`checks`, `escalation`, ...).

    Tests script any rewrite through `fix-typo`, so it skips the "scope" check (a typo fix
    that changes more than spelling fails it) unless `scope_checked`.

    Routes: `local` (ollama wire, local), `cloud` (OpenAI wire, key from FAKE_CLOUD_KEY),
    `strong` (Anthropic wire), and a `locked` backend needing a key that is never set.
    """
    quick = {"connect": 2, "first_byte": 10, "total": 30}
    doc = {
        "version": 1,
        "backends": {
            "local": {
                "type": "ollama",
                "base_url": fake.base_url("ollama", "local"),
                "model": "tiny-local",
                "timeouts": quick,
            },
            "cloud": {
                "type": "openai",
                "base_url": fake.base_url("openai", "cloud"),
                "model": "cloud-mid",
                "api_key_env": "FAKE_CLOUD_KEY",
                "price": {"input": 1, "output": 4},
                "timeouts": quick,
            },
            "strong": {
                "type": "anthropic",
                "base_url": fake.base_url("anthropic", "strong"),
                "model": "strong-coder",
                "api_key_env": "FAKE_CLOUD_KEY",
                "price": {"input": 3, "output": 15},
                "timeouts": quick,
            },
            "locked": {
                "type": "anthropic",
                "model": "frontier",
                "api_key_env": "MODELROUTER_TEST_KEY_NEVER_SET",
            },
        },
        "tiers": tiers
        or {
            "trivial": ["local", "cloud"],
            "feature": ["cloud", "strong"],
            "debug": ["strong"],
            "architecture": ["strong"],
            "locked-tier": ["locked"],
        },
        "routes": [
            {"tier": "trivial", "patterns": ["typo", "rename"]},
            {"tier": "feature", "patterns": ["implement"]},
        ],
        "default_tier": "feature",
        "actions": {
            "fix-typo": {
                "title": "Fix typo",
                "tier": "trivial",
                "prompt": "Fix typos.",
                "skip_checks": [] if scope_checked else ["scope"],
            },
            "implement": {"title": "Implement", "tier": "feature", "prompt": "Implement it."},
            "write-tests": {
                "title": "Write tests",
                "tier": "debug",
                "kind": "tests",
                "prompt": "Write tests for the selection.",
            },
            "fix-diagnostic": {
                "title": "Fix diagnostic",
                "tier": "debug",
                "on_diagnostics": True,
                "code_action_kind": "quickfix",
                "prompt": "Fix what the diagnostics report.",
            },
            "explain": {
                "title": "Explain",
                "tier": "trivial",
                "kind": "answer",
                "prompt": "Explain.",
            },
            "design": {
                "title": "Design",
                "tier": "architecture",
                "kind": "design",
                "prompt": "Write a design note.",
            },
            "frontier-review": {
                "title": "Frontier review",
                "tier": "locked-tier",
                "prompt": "Review.",
            },
            "ask": {"title": "Ask…", "tier": "auto", "needs_instruction": True, "prompt": "Do it."},
        },
        "edits": {"design_folder": "notes/design", **(edit or {})},
        "fixers": fixers or {},
        **(extra or {}),
    }
    path.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


class EditorClient:
    """A pytest-lsp client plus the editor-side state the tests look at."""

    def __init__(self, client: LanguageClient, root: Path) -> None:
        self.client = client
        self.root = root
        self.docs: dict[str, tuple[str, int]] = {}  # uri -> (text, version)
        self.applied: list[types.ApplyWorkspaceEditParams] = []
        self.rejected: list[str] = []
        self.status: list[dict[str, Any]] = []
        self.apply_delay = 0.0
        # Seconds before an applied edit's didChange is sent (Neovim holds it back while a
        # Visual selection is active).
        self.report_delay = 0.0
        self._held: dict[str, list[asyncio.TimerHandle]] = {}
        self.registrations: list[types.Registration] = []

    def uri(self, name: str) -> str:
        """The URI of a file under the workspace root."""
        return (self.root / name).as_uri()

    def open(self, name: str, text: str, language_id: str = "python") -> str:
        """Write `name` to disk and open it in the editor."""
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        uri = path.as_uri()
        self.docs[uri] = (text, 1)
        self.client.text_document_did_open(
            types.DidOpenTextDocumentParams(
                text_document=types.TextDocumentItem(
                    uri=uri, language_id=language_id, version=1, text=text
                )
            )
        )
        return uri

    def close(self, uri: str) -> None:
        """Close a document; changes it still holds back are never reported."""
        for held in self._held.pop(uri, []):
            held.cancel()
        del self.docs[uri]
        self.client.text_document_did_close(
            types.DidCloseTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=uri))
        )

    def type_text(self, uri: str, line: int, character: int, text: str) -> None:
        """Insert `text` at a position, as a user typing."""
        self._change(uri, _range(line, character, line, character), text)

    def text(self, uri: str) -> str:
        """The editor's current text of a document."""
        return self.docs[uri][0]

    def _change(self, uri: str, rng: types.Range, new_text: str, *, late: bool = False) -> None:
        text, version = self.docs[uri]
        start, end = _offset(text, rng.start), _offset(text, rng.end)
        text = text[:start] + new_text + text[end:]
        version += 1
        self.docs[uri] = (text, version)
        params = types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
            content_changes=[types.TextDocumentContentChangePartial(range=rng, text=new_text)],
        )
        if late and self.report_delay:
            held = asyncio.get_running_loop().call_later(
                self.report_delay, self.client.text_document_did_change, params
            )
            self._held.setdefault(uri, []).append(held)
        else:
            self.client.text_document_did_change(params)

    async def apply_edit(
        self, params: types.ApplyWorkspaceEditParams
    ) -> types.ApplyWorkspaceEditResult:
        """Apply a workspace edit the way an editor does: versions checked first."""
        if self.apply_delay:
            await asyncio.sleep(self.apply_delay)
        self.applied.append(params)
        for change in params.edit.document_changes or []:
            if isinstance(change, types.CreateFile):
                path = Path(_path(change.uri))
                path.parent.mkdir(parents=True, exist_ok=True)
                if not path.exists():
                    path.write_text("", encoding="utf-8")
                continue
            if not isinstance(change, types.TextDocumentEdit):
                continue
            uri = change.text_document.uri
            if uri in self.docs:
                if change.text_document.version not in (None, self.docs[uri][1]):
                    reason = f"version {change.text_document.version} != {self.docs[uri][1]}"
                    self.rejected.append(reason)
                    return types.ApplyWorkspaceEditResult(applied=False, failure_reason=reason)
                for edit in sorted(change.edits, key=lambda e: _key(e.range), reverse=True):
                    self._change(uri, edit.range, edit.new_text, late=True)
            else:
                path = Path(_path(uri))
                text = path.read_text(encoding="utf-8") if path.exists() else ""
                for edit in sorted(change.edits, key=lambda e: _key(e.range), reverse=True):
                    s, e = _offset(text, edit.range.start), _offset(text, edit.range.end)
                    text = text[:s] + edit.new_text + text[e:]
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text, encoding="utf-8")
        return types.ApplyWorkspaceEditResult(applied=True)

    async def code_actions(
        self, uri: str, rng: types.Range, diagnostics: list[types.Diagnostic] | None = None
    ) -> list[types.CodeAction]:
        """`textDocument/codeAction` on a range."""
        result = await self.client.text_document_code_action_async(
            types.CodeActionParams(
                text_document=types.TextDocumentIdentifier(uri=uri),
                range=rng,
                context=types.CodeActionContext(diagnostics=diagnostics or []),
            )
        )
        return [a for a in result or [] if isinstance(a, types.CodeAction)]

    async def execute(self, command: str, *arguments: Any) -> Any:
        """`workspace/executeCommand`."""
        return await self.client.workspace_execute_command_async(
            types.ExecuteCommandParams(command=command, arguments=list(arguments))
        )

    async def hover(self, uri: str, line: int, character: int) -> types.Hover | None:
        """`textDocument/hover`."""
        return await self.client.text_document_hover_async(
            types.HoverParams(
                text_document=types.TextDocumentIdentifier(uri=uri),
                position=types.Position(line=line, character=character),
            )
        )

    async def stop(self) -> None:
        """Shut the server down cleanly."""
        await self.client.shutdown_session()
        await self.client.stop()


async def start_editor(
    rules: Path,
    root: Path,
    data_dir: Path,
    *,
    settings: dict[str, Any] | None = None,
    configuration: dict[str, Any] | None = None,
    capabilities: types.ClientCapabilities | None = None,
) -> EditorClient:
    """Start `modelrouter lsp` with `rules` and connect an editor-like client to it.

    `settings` go in `initializationOptions`; `configuration` is what the client answers
    to `workspace/configuration` for the "modelrouter" section."""
    env = dict(os.environ)
    env.update(
        MODELROUTER_DATA_DIR=str(data_dir),
        FAKE_CLOUD_KEY="test-key-not-secret",
        MODELROUTER_RULES=str(rules),
    )
    env.pop("MODELROUTER_TEST_KEY_NEVER_SET", None)
    config = ClientServerConfig(
        server_command=[sys.executable, "-m", "modelrouter", "lsp"], server_env=env
    )
    client = await config.start()
    _fix_code_action_union(client)
    editor = EditorClient(client, root)

    @client.feature(types.WORKSPACE_APPLY_EDIT)
    async def on_apply_edit(
        params: types.ApplyWorkspaceEditParams,
    ) -> types.ApplyWorkspaceEditResult:
        return await editor.apply_edit(params)

    @client.feature(types.CLIENT_REGISTER_CAPABILITY)
    def on_register(params: types.RegistrationParams) -> None:
        editor.registrations.extend(params.registrations)

    @client.feature("modelrouter/status")
    def on_status(params: Any) -> None:
        # Unknown methods' params arrive as named tuples.
        editor.status.append(params._asdict() if hasattr(params, "_asdict") else dict(params))

    if configuration is not None:
        client.set_configuration(configuration, section="modelrouter")
    caps = capabilities or client_capabilities("visual-studio-code")
    await client.initialize_session(
        types.InitializeParams(
            capabilities=caps,
            root_uri=root.as_uri(),
            workspace_folders=[types.WorkspaceFolder(uri=root.as_uri(), name=root.name)],
            initialization_options={"modelrouter": settings or {}},
        )
    )
    return editor


@contextlib.asynccontextmanager
async def editor_session(
    tmp_path: Path,
    fake: FakeProvider,
    *,
    settings: dict[str, Any] | None = None,
    configuration: dict[str, Any] | None = None,
    capabilities: types.ClientCapabilities | None = None,
    **rules_kw: Any,
) -> AsyncIterator[EditorClient]:
    """An editor connected to a fresh server whose rules point at `fake`."""
    rules = write_rules(tmp_path / "rules.yaml", fake, **rules_kw)
    root = tmp_path / "ws"
    root.mkdir(exist_ok=True)
    editor = await start_editor(
        rules,
        root,
        tmp_path / "data",
        settings=settings,
        configuration=configuration,
        capabilities=capabilities,
    )
    try:
        yield editor
    finally:
        await editor.stop()


async def wait_for(predicate: Callable[[], Any], timeout: float = 10.0) -> Any:
    """Poll until `predicate()` is truthy; fails the test after `timeout` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not (value := predicate()):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)
    return value


def _fix_code_action_union(client: LanguageClient) -> None:
    """lsprotocol's union hook reads a CodeAction carrying a nested `command` as a Command
    whose `command` is the stringified dict; pick CodeAction unless `command` is a string."""
    converter = client.protocol._converter

    def structure(obj: Any, _type: Any) -> types.Command | types.CodeAction:
        if isinstance(obj.get("command"), str):
            return converter.structure(obj, types.Command)
        return converter.structure(obj, types.CodeAction)

    converter.register_structure_hook(Union[types.Command, types.CodeAction], structure)  # noqa: UP007


def _range(l1: int, c1: int, l2: int, c2: int) -> types.Range:
    return types.Range(
        start=types.Position(line=l1, character=c1), end=types.Position(line=l2, character=c2)
    )


def lines_range(first: int, last_exclusive: int) -> types.Range:
    """Whole lines `first`..`last_exclusive - 1` (0-based)."""
    return _range(first, 0, last_exclusive, 0)


def lines_range_json(first: int, last_exclusive: int) -> dict[str, Any]:
    """`lines_range` as JSON, the way a client sends it in `modelrouter.run` arguments."""
    rng = lines_range(first, last_exclusive)
    return {
        "start": {"line": rng.start.line, "character": rng.start.character},
        "end": {"line": rng.end.line, "character": rng.end.character},
    }


def _key(rng: types.Range) -> tuple[int, int]:
    return rng.start.line, rng.start.character


def _offset(text: str, pos: types.Position) -> int:
    """String offset of a position, as an editor computes it: lines end only at `\r\n`,
    `\r` or `\n` (the tests use BMP text, where UTF-16 units are characters)."""
    starts = [0] + [m.end() for m in re.finditer(r"\r\n|\r|\n", text)]
    if pos.line >= len(starts):
        return len(text)
    start = starts[pos.line]
    end = starts[pos.line + 1] if pos.line + 1 < len(starts) else len(text)
    content = text[start:end].rstrip("\r\n") if pos.line + 1 < len(starts) else text[start:]
    return start + min(pos.character, len(content))


def _path(uri: str) -> str:
    from urllib.parse import unquote, urlsplit

    return unquote(urlsplit(uri).path)


def fenced(code: str, lang: str = "python") -> str:
    """A model reply holding `code` in a fenced block, with some chatter around it."""
    return f"Here is the fix:\n\n```{lang}\n{code}```\n\nLet me know if you need more."
