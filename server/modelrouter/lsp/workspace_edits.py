"""Turning a model's answer into a workspace edit the client applies: a rewrite of the
range (followed through the user's typing since the job started), tests added to or
created beside the file, a design note, or an answer shown to the user; then provenance
for what the client now holds.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lsprotocol import types
from pygls.uris import from_fs_path, to_fs_path

from modelrouter import edits
from modelrouter.answer_checks import EditUnderCheck
from modelrouter.engine import Outcome
from modelrouter.errors import JobFailed
from modelrouter.fixers import suffix_for
from modelrouter.lsp.contract import RunResult
from modelrouter.lsp.documents import position_encoding
from modelrouter.lsp.provenance_records import record, remember
from modelrouter.lsp.requests import Request, Requests, Snapshot
from modelrouter.positions import LineIndex, Pos, newline_of, position_at
from modelrouter.redact import hide_values
from modelrouter.routing.decide import is_trivial_edit

if TYPE_CHECKING:
    from modelrouter.lsp.server import ModelRouterServer

log = logging.getLogger("modelrouter.lsp")

# How long to wait for the client to report an edit it applied.
APPLY_SETTLE_S = 2.0


class WorkspaceEdits:
    """Writes one server's job results into the client's workspace."""

    def __init__(self, server: ModelRouterServer, requests: Requests) -> None:
        self.ls = server
        self.requests = requests
        self._changed: dict[str, list[asyncio.Future[None]]] = {}
        # Provenance waiting for a didChange that comes after the settle wait.
        self._late: dict[str, list[Callable[[], None]]] = {}

    def document_changed(self, uri: str) -> None:
        """Wake jobs waiting for the client to report their applied edit."""
        for fut in self._changed.pop(uri, []):
            if not fut.done():
                fut.set_result(None)
        for place in self._late.pop(uri, []):
            place()

    def document_closed(self, uri: str) -> None:
        """Drop provenance still waiting for a change the closed document will never report."""
        self._late.pop(uri, None)

    async def apply(self, req: Request, outcome: Outcome) -> RunResult:
        kind = req.action.kind
        if kind == "answer":
            result = await self._show_answer(req, outcome)
        elif kind == "design":
            result = await self._apply_design(req, outcome)
        elif kind == "tests":
            result = await self._apply_tests(req, outcome)
        else:
            result = await self._apply_rewrite(req, outcome)
        result.update(backend=outcome.backend, model=outcome.model, tier=req.tier)
        return result

    def _annotation(self, outcome: Outcome) -> tuple[str, types.ChangeAnnotation] | None:
        caps = self.ls.client_capabilities.workspace
        we = caps.workspace_edit if caps else None
        if not (we and we.change_annotation_support):
            return None
        rules = self.ls.rules
        confirm = self.ls.settings.confirm_edits
        if confirm is None:
            confirm = bool(rules and rules.edits.needs_confirmation)
        return "modelrouter", types.ChangeAnnotation(
            label=f"ModelRouter: {outcome.model}",
            needs_confirmation=confirm,
            description=f"Written by {outcome.model} via {outcome.backend}",
        )

    def _text_edit(
        self, rng: types.Range, text: str, annotation: tuple[str, Any] | None
    ) -> types.TextEdit | types.AnnotatedTextEdit:
        if annotation:
            return types.AnnotatedTextEdit(range=rng, new_text=text, annotation_id=annotation[0])
        return types.TextEdit(range=rng, new_text=text)

    async def _send_edit(
        self, label: str, changes: list[Any], annotation: tuple[str, Any] | None
    ) -> tuple[bool, str | None]:
        edit = types.WorkspaceEdit(
            document_changes=changes,
            change_annotations=dict([annotation]) if annotation else None,
        )
        try:
            result = await self.ls.workspace_apply_edit_async(
                types.ApplyWorkspaceEditParams(edit=edit, label=label)
            )
        except Exception as exc:
            return False, f"the editor did not apply the edit: {exc}"
        if not result.applied:
            return False, result.failure_reason or "the editor declined the edit"
        return True, None

    async def _await_change(self, uri: str, version: int | None) -> None:
        """Give the client a moment to report the edit it just applied (`didChange`)."""
        doc = self.ls.workspace.get_text_document(uri)
        if doc.version != version:
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._changed.setdefault(uri, []).append(fut)
        try:
            await asyncio.wait_for(fut, APPLY_SETTLE_S)
        except asyncio.TimeoutError:
            log.info("no didChange for the applied edit in %s", uri)

    def _after_change(self, uri: str, version: int | None, then: Callable[[], None]) -> None:
        """Run `then` once the document has moved past `version`, the version an edit was
        sent against: at once when it has, else on its next change (Neovim holds `didChange`
        back while a Visual selection is active, past the settle wait)."""
        if self.ls.workspace.get_text_document(uri).version != version:
            then()
            return
        self._late.setdefault(uri, []).append(then)

    async def _apply_rewrite(self, req: Request, outcome: Outcome) -> RunResult:
        snap = req.snapshot
        try:
            code = edits.extract_code(outcome.text, snap.language_id)
        except edits.NoUsableCode as exc:
            if req.action.needs_instruction and outcome.text.strip():
                # A free-form request may be a question: a reply without code is its answer.
                return await self._show_answer(req, outcome)
            raise JobFailed(f"{exc}; nothing was changed") from None
        snap.start, snap.end = self.widened(snap, code)
        original = snap.text[snap.start : snap.end]
        new_text = edits.reindent(
            code,
            original,
            line_indent=edits.indent_before(snap.text, snap.start),
            newline=newline_of(snap.text),
        )
        if new_text == original:
            raise JobFailed(f"{outcome.model} returned the code unchanged; nothing to apply")
        rules = self.ls.rules
        trivial = rules is not None and is_trivial_edit(rules, req.action, req.tier)
        too_big = edits.oversized_edit(original, new_text, trivial=trivial)
        if too_big:
            raise JobFailed(
                f"{outcome.model}'s answer is out of proportion: {too_big}; nothing was changed"
            )
        now_text, now_version, start, end = self.requests.current_range(snap)
        enc = position_encoding(self.ls)
        lines = LineIndex(now_text)
        p0 = lines.position_at(start, enc)
        p1 = lines.position_at(end, enc)
        rng = types.Range(start=_lsp(p0), end=_lsp(p1))
        annotation = self._annotation(outcome)
        change = types.TextDocumentEdit(
            text_document=types.OptionalVersionedTextDocumentIdentifier(
                uri=snap.uri, version=now_version
            ),
            edits=[self._text_edit(rng, new_text, annotation)],
        )
        ok, why = await self._send_edit(
            f"{req.action.title} ({outcome.model})", [change], annotation
        )
        if not ok:
            raise JobFailed(f"{why}; nothing was changed")
        await self._await_change(snap.uri, now_version)
        self._after_change(
            snap.uri,
            now_version,
            lambda: remember(self.ls, snap.uri, start, new_text, req, outcome),
        )
        moved = " (re-anchored after your edits)" if now_version != snap.version else ""
        return {"applied": True, "message": f"applied {req.action.title}{moved}"}

    def widened(self, snap: Snapshot, code: str) -> tuple[int, int]:
        """The range to replace: the whole enclosing function/class when that is what the
        model wrote, else the selection plus any surrounding lines the reply repeats."""
        from modelrouter.context import enclosing_scope

        lines = snap.lines
        first = lines.line_of(snap.start)
        last = lines.line_of(max(snap.start, snap.end - 1))
        found = enclosing_scope(snap.text, first, last, snap.language_id, lines)
        if found is not None:
            s_first, s_last, _label = found
            scope = (lines.line_start(s_first), lines.line_start(s_last + 1))
            if edits.widen_to_scope(code, snap.text, snap.start, snap.end, scope) == scope:
                return scope
        return edits.widen_to_echoed_lines(code, snap.text, snap.start, snap.end)

    async def _apply_tests(self, req: Request, outcome: Outcome) -> RunResult:
        snap = req.snapshot
        if snap.path is None:
            raise JobFailed("tests need a saved file; nothing was changed")
        try:
            code = edits.extract_code(outcome.text, snap.language_id)
        except edits.NoUsableCode as exc:
            raise JobFailed(f"{exc}; no tests were written") from None
        too_big = edits.oversized_edit(snap.text[snap.start : snap.end], code, trivial=False)
        if too_big:
            raise JobFailed(
                f"{outcome.model}'s tests are out of proportion: {too_big}; no tests were written"
            )
        path = self.requests.test_path(snap)
        uri = from_fs_path(str(path)) or path.as_uri()
        open_doc = self.ls.workspace.text_documents.get(uri)
        if open_doc is not None:
            existing, version = open_doc.source, open_doc.version
        elif path.exists():
            existing, version = path.read_text(encoding="utf-8"), None
        else:
            existing, version = None, None
        annotation = self._annotation(outcome)
        changes: list[Any] = []
        if existing is None:
            changes.append(
                # Not `ignore_if_exists`: clients then skip creating the file (and its
                # folder) and the edit lands in a buffer that cannot be saved.
                types.CreateFile(
                    uri=uri,
                    options=types.CreateFileOptions(ignore_if_exists=False, overwrite=False),
                    annotation_id=annotation[0] if annotation else None,
                )
            )
            insert = code
            at = Pos(0, 0)
        else:
            insert = edits.merge_tests(existing, code, snap.language_id)
            at = position_at(existing, len(existing), position_encoding(self.ls))
        changes.append(
            types.TextDocumentEdit(
                text_document=types.OptionalVersionedTextDocumentIdentifier(
                    uri=uri, version=version
                ),
                edits=[
                    self._text_edit(types.Range(start=_lsp(at), end=_lsp(at)), insert, annotation)
                ],
            )
        )
        ok, why = await self._send_edit(
            f"{req.action.title} ({outcome.model})", changes, annotation
        )
        if not ok:
            raise JobFailed(f"{why}; no tests were written")
        if open_doc is not None:
            await self._await_change(uri, version)
        final = (existing or "") + insert
        offset = len(existing or "")
        enc = position_encoding(self.ls)
        body = insert.rstrip("\n")
        lead = len(insert) - len(insert.lstrip("\n"))
        lines = LineIndex(final)
        p0 = lines.position_at(offset + lead, enc)
        p1 = lines.position_at(offset + len(body), enc)
        self.ls.store.add(uri, record(self.ls, req, outcome, p0, p1))
        self.ls.store.save(uri, final)
        verb = "added to" if existing is not None else "created"
        shown = edits.relative_posix(path, self.ls.root)
        return {"applied": True, "message": f"tests {verb} {shown}", "uri": uri}

    async def _apply_design(self, req: Request, outcome: Outcome) -> RunResult:
        snap = req.snapshot
        note = hide_values(outcome.text.strip(), self.ls.engine.api_keys())
        if not note:
            raise JobFailed(f"{outcome.model} returned an empty design note; nothing was written")
        rules = self.ls.rules
        folder_setting = self.ls.settings.design_folder or (
            rules.edits.design_folder if rules else "docs/design"
        )
        folder = Path(folder_setting).expanduser()
        if not folder.is_absolute():
            base = self.ls.root or (Path(snap.path).parent if snap.path else Path.cwd())
            folder = base / folder
        heading = next(
            (ln.lstrip("# ").strip() for ln in note.splitlines() if ln.startswith("#")), ""
        )
        path = edits.design_note_path(folder, heading or req.action.title)
        uri = from_fs_path(str(path)) or path.as_uri()
        text = note + "\n"
        annotation = self._annotation(outcome)
        changes = [
            types.CreateFile(
                uri=uri,
                options=types.CreateFileOptions(ignore_if_exists=False, overwrite=False),
                annotation_id=annotation[0] if annotation else None,
            ),
            types.TextDocumentEdit(
                text_document=types.OptionalVersionedTextDocumentIdentifier(uri=uri, version=None),
                edits=[
                    self._text_edit(
                        types.Range(start=types.Position(0, 0), end=types.Position(0, 0)),
                        text,
                        annotation,
                    )
                ],
            ),
        ]
        ok, why = await self._send_edit(
            f"{req.action.title} ({outcome.model})", changes, annotation
        )
        if not ok:
            raise JobFailed(f"{why}; no design note was written")
        end = position_at(text, len(text.rstrip("\n")), position_encoding(self.ls))
        self.ls.store.add(uri, record(self.ls, req, outcome, Pos(0, 0), end))
        self.ls.store.save(uri, text)
        await self._show(uri)
        return {
            "applied": True,
            "message": f"design note {edits.relative_posix(path, self.ls.root)}",
            "uri": uri,
        }

    async def _show_answer(self, req: Request, outcome: Outcome) -> RunResult:
        """An answer changes no code: it is written to a Markdown file in the data directory,
        shown to the user, and returned to the client."""
        # An answer is prose, not the user's code: a configured key it quotes stays hidden.
        answer = hide_values(outcome.text.strip(), self.ls.engine.api_keys())
        if not answer:
            raise JobFailed(f"{outcome.model} returned an empty answer")
        from modelrouter.paths import data_dir, write_private

        stamp = time.strftime("%Y%m%d-%H%M%S")
        path = data_dir() / "answers" / f"{stamp}-{edits.slug(req.action.title, 24)}.md"
        header = (
            f"<!-- {req.action.title} · {outcome.model} via {outcome.backend}"
            f" · tier {req.tier} -->\n\n"
        )
        try:
            await asyncio.to_thread(write_private, path, header + answer + "\n")
            if not _client_shows_answers(self.ls):
                await self._show(from_fs_path(str(path)) or path.as_uri())
        except OSError as exc:
            log.warning("could not write the answer file: %s", exc)
            self.ls.show(answer)
        return {"applied": False, "message": answer, "answer": answer, "uri": path.as_uri()}

    async def _show(self, uri: str) -> None:
        window = self.ls.client_capabilities.window
        if not (window and window.show_document and window.show_document.support):
            self.ls.show(f"ModelRouter wrote {to_fs_path(uri)}")
            return
        try:
            await self.ls.window_show_document_async(
                types.ShowDocumentParams(uri=uri, take_focus=True)
            )
        except Exception as exc:
            log.info("client could not show %s: %s", uri, exc)

    async def edit_under_check(self, req: Request, outcome: Outcome) -> EditUnderCheck | None:
        """The edit `outcome` would make, as `apply` would make it, for the answer checks;
        None when it holds no code (`apply` says so itself)."""
        snap = req.snapshot
        try:
            code = edits.extract_code(outcome.text, snap.language_id)
        except edits.NoUsableCode:
            return None
        root = str(self.ls.root) if self.ls.root else None
        if req.action.kind == "tests":
            if snap.path is None:
                return None
            path = self.requests.test_path(snap)
            existing = await self._test_file_text(path)
            insert = (
                code if existing is None else edits.merge_tests(existing, code, snap.language_id)
            )
            before = existing or ""
            return EditUnderCheck(
                before,
                len(before),
                len(before),
                insert,
                snap.language_id,
                path.name,
                workspace=root,
                path=str(path),
            )
        start, end = self.widened(snap, code)
        new_code = edits.reindent(
            code,
            snap.text[start:end],
            line_indent=edits.indent_before(snap.text, start),
            newline=newline_of(snap.text),
        )
        name = Path(snap.path).name if snap.path else "selection" + suffix_for(snap.language_id)
        return EditUnderCheck(
            snap.text, start, end, new_code, snap.language_id, name, workspace=root, path=snap.path
        )

    async def _test_file_text(self, path: Path) -> str | None:
        """The test file as the editor has it open, else as it is on disk, else None."""
        uri = from_fs_path(str(path)) or path.as_uri()
        open_doc = self.ls.workspace.text_documents.get(uri)
        if open_doc is not None:
            return open_doc.source
        try:
            return await asyncio.to_thread(path.read_text, encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return None


def _client_shows_answers(ls: ModelRouterServer) -> bool:
    """True when the client declared `experimental.modelrouter.showAnswers`: it shows the
    `answer` of a result in its own view, so opening the answer file (which would attach
    the client's language server to a file outside any project) is left out."""
    experimental = ls.client_capabilities.experimental
    own = experimental.get("modelrouter") if isinstance(experimental, dict) else None
    return isinstance(own, dict) and own.get("showAnswers") is True


def _lsp(p: Pos) -> types.Position:
    return types.Position(line=p.line, character=p.character)
