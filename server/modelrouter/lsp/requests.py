"""Building a job's request: the document snapshot it works on, the routing decision it
asks `modelrouter.routing` for, and the prompt with its context.

A snapshot marks the open document, so that the document logs its changes from then on and
`current_range` can follow the target range through them when the answer arrives (typing
elsewhere moves it, typing inside it refuses the edit). The marks are released when the job
ends.
"""

from __future__ import annotations

import contextvars
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pygls.uris import to_fs_path

from modelrouter import edits, prompts
from modelrouter.context import ContextError, build_context
from modelrouter.document import Document
from modelrouter.errors import JobFailed, RoutingError
from modelrouter.lsp.contract import Position, Range, RedoArgs, RunArgs
from modelrouter.lsp.documents import position_encoding
from modelrouter.positions import LineIndex, Pos
from modelrouter.provenance import Record
from modelrouter.routing.decide import RouteRequest, route
from modelrouter.routing.escalation import Tried, redo_tier
from modelrouter.routing.sticky import editor_follow_up
from modelrouter.tokens import estimate_tokens
from modelrouter.transcript import Message

if TYPE_CHECKING:
    from modelrouter.config import Action
    from modelrouter.lsp.server import ModelRouterServer

log = logging.getLogger("modelrouter.lsp")

# The job whose snapshots hold marks on documents (released when it ends).
JOB: contextvars.ContextVar[str | None] = contextvars.ContextVar("modelrouter_job", default=None)


@dataclass
class Snapshot:
    """The document as the job saw it when it started."""

    uri: str
    text: str
    version: int | None
    start: int  # string offsets of the target range
    end: int
    language_id: str
    path: str | None
    document: Document | None = None  # the open document, marked at `mark`
    mark: int | None = None
    index: LineIndex | None = None

    @property
    def lines(self) -> LineIndex:
        """The line index of `text`."""
        if self.index is None:
            self.index = LineIndex(self.text)
        return self.index


@dataclass
class Request:
    """What to ask and where the answer goes."""

    action: Action
    snapshot: Snapshot
    tier: str
    reason: str
    messages: list[Message]
    prefer_backend: str | None = None
    escalated: str | None = None
    fallbacks: list[str] = field(default_factory=list)
    redo_of: int | None = None  # ledger id of the answer being redone (a routing label)
    instruction: str | None = None  # what the user typed, for actions that ask for it
    tried: list[Tried] = field(default_factory=list)  # every answer checked, in order


class Requests:
    """Builds the requests of one server's jobs and holds the document marks they take."""

    def __init__(self, server: ModelRouterServer) -> None:
        self.ls = server
        self._marks: dict[str, list[tuple[Document, int]]] = {}
        # The newest answer per document that failed its checks and was not applied, with
        # the document version it was for: what a redo there re-runs one tier up.
        self._refused: dict[str, tuple[int | None, Record]] = {}

    def keep_refused(self, uri: str, version: int | None, record: Record) -> None:
        """Remember an answer that was not applied, for "Redo with a stronger model"."""
        self._refused[uri] = (version, record)

    def redoable_at(self, uri: str, pos: tuple[int, int]) -> Record | None:
        """The model-written code at `pos`, else the refused answer for the selection
        holding it while the document is as it was then."""
        record = self.ls.store.at(uri, pos)
        if record is not None:
            return record
        version, refused = self._refused.get(uri, (None, None))
        doc = self.open_document(uri)
        if refused is None or doc is None or doc.version != version:
            return None
        return refused if refused.contains(Pos(*pos)) else None

    def release(self, job_id: str) -> None:
        """Release the document marks job `job_id` took."""
        for doc, mark in self._marks.pop(job_id, []):
            doc.release(mark)

    def snapshot(self, uri: str, rng: Range | None) -> Snapshot:
        opened = self.open_document(uri)
        doc: Any = opened or self.ls.workspace.get_text_document(uri)
        try:
            text = doc.source  # read from disk when the editor has not opened it
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            why = getattr(exc, "strerror", None) or str(exc)
            raise JobFailed(f"cannot read {uri}: not open in the editor ({why})") from None
        enc = position_encoding(self.ls)
        lines = opened.lines if opened is not None else LineIndex(text)
        if rng is None:
            start = end = 0
        else:
            first = min(rng.start.line, rng.end.line)
            if first >= lines.line_count:
                # Clamping would send the model an empty selection and insert at the end.
                raise JobFailed(
                    f"the range starts at line {first + 1}, past the end of the document "
                    f"({lines.line_count} lines); nothing was changed"
                )
            start = lines.offset_at(Pos(rng.start.line, rng.start.character), enc)
            end = lines.offset_at(Pos(rng.end.line, rng.end.character), enc)
        if start > end:
            start, end = end, start
        if start == end:
            # No selection: the whole line under the cursor.
            start = lines.line_start(lines.line_of(start))
            end = lines.next_line_start(end)
        path = to_fs_path(uri) if uri.startswith("file:") else None
        snap = Snapshot(uri, text, doc.version, start, end, doc.language_id or "plaintext", path)
        snap.index = lines
        job_id = JOB.get()
        if opened is not None and job_id is not None:
            snap.document, snap.mark = opened, opened.mark()
            self._marks.setdefault(job_id, []).append((opened, snap.mark))
        return snap

    def open_document(self, uri: str) -> Document | None:
        doc = self.ls.workspace.text_documents.get(uri)
        return doc if isinstance(doc, Document) else None

    def current_range(self, snap: Snapshot) -> tuple[str, int | None, int, int]:
        """(text, version, start, end) of the snapshot's range in the document as it is now,
        followed through the document's own changes; JobFailed when that cannot be proved."""
        now = self.open_document(snap.uri)
        if snap.document is not None and snap.mark is not None:
            if now is not snap.document:
                raise JobFailed(
                    "the document was closed while the model worked; the edit was not applied"
                )
            mapped = now.map_range(snap.mark, snap.start, snap.end)
            if mapped is None:
                raise JobFailed(
                    "the code changed while the model worked: you edited the lines being "
                    "rewritten; the edit was not applied"
                )
            return now.text, now.version, mapped[0], mapped[1]
        # Not open when the job started: there are no change events to follow, so the text
        # must be exactly as it was.
        text = now.text if now is not None else snap.text
        if now is None:
            try:
                text = self.ls.workspace.get_text_document(snap.uri).source
            except (OSError, UnicodeDecodeError, ValueError):
                text = None
        if text != snap.text:
            raise JobFailed(
                "the code changed while the model worked (the file was not open, so the "
                "change cannot be followed); the edit was not applied"
            )
        return text, now.version if now is not None else snap.version, snap.start, snap.end

    async def build(self, args: RunArgs) -> Request:
        rules = self.ls.ensure_rules()
        if rules is None:
            raise JobFailed("no usable rules: " + "; ".join(self.ls.rules_errors))
        action = rules.actions.get(args.action)
        if action is None:
            raise JobFailed(f"unknown action {args.action!r}")
        instruction = (args.instruction or "").strip() or None
        if action.needs_instruction and not instruction:
            raise JobFailed(f"{action.title} needs an instruction")
        snap = self.snapshot(args.uri, args.range)
        selection = snap.text[snap.start : snap.end]
        # A follow-up on model-written code keeps that conversation and, unless the new
        # action needs a stronger tier, its tier and model.
        prior = self._record_over(snap)
        follow_up = editor_follow_up(action.kind, prior)
        routed = RouteRequest(
            text=instruction or selection,
            language=snap.language_id,
            path=snap.path,
            workspace=str(self.ls.root) if self.ls.root else None,
            selection_tokens=estimate_tokens(selection),
            tier=None if action.tier == "auto" else action.tier,
            tier_reason=f"action {action.id} is set to tier {action.tier}",
            follow_up=follow_up,
            # What the listing shows, symlinks and non-file documents included.
            local_only=self.local_only(snap),
        )
        try:
            decision = await route(rules, routed, engine=self.ls.engine)
        except RoutingError as exc:
            raise JobFailed(str(exc)) from None
        req = Request(action, snap, decision.tier, decision.reason, [], instruction=instruction)
        req.prefer_backend = decision.prefer_backend
        diagnostics = list(args.diagnostics)
        if follow_up is not None and prior is not None:
            ctx = self._context(req, diagnostics)
            transcript = [Message(**m) for m in prior.transcript]
            req.messages = prompts.follow_up(transcript, action, ctx, instruction=instruction)
        else:
            ctx = self._context(req, diagnostics)
            test_path = None
            if action.kind == "tests" and snap.path:
                test_path = edits.relative_posix(self.test_path(snap), self.ls.root)
            req.messages = prompts.build_messages(
                action, ctx, instruction=instruction, test_path=test_path
            )
        return req

    def build_redo(self, args: RedoArgs) -> Request:
        rules = self.ls.ensure_rules()
        if rules is None:
            raise JobFailed("no usable rules: " + "; ".join(self.ls.rules_errors))
        uri = args.uri
        record = self.redoable_at(uri, (args.position.line, args.position.character))
        if record is None:
            raise JobFailed("no model-written code here to redo")
        try:
            upper = redo_tier(rules, record.tier, record.model)
        except RoutingError as exc:
            raise JobFailed(str(exc)) from None
        action = rules.actions.get(record.action)
        if action is None:
            raise JobFailed(f"action {record.action!r} is no longer in the rules")
        rng = Range(Position(*record.start), Position(*record.end))
        snap = self.snapshot(uri, rng)
        transcript = [Message(**m) for m in record.transcript]
        now = prompts.fence(snap.text[snap.start : snap.end], snap.language_id)
        if self.ls.store.at(uri, (args.position.line, args.position.character)) is None:
            # An answer that failed its checks: it was never applied.
            why = f"it was not applied ({record.escalated}); " if record.escalated else ""
            ask = f"{why}the user asked for a stronger model to redo it; the code is:\n"
        else:
            ask = "the user asked for a stronger model to redo it; the code it wrote is now:\n"
        messages = prompts.retry(transcript, ask + now)
        return Request(
            action,
            snap,
            upper,
            f"redo of {record.model}'s answer one tier up ({record.tier} → {upper})",
            messages,
            escalated=f"redo requested: {record.model} ({record.tier}) → tier {upper}",
            redo_of=record.ledger_id,
        )

    def _record_over(self, snap: Snapshot) -> Record | None:
        return self.ls.store.at(
            snap.uri, snap.lines.position_at(snap.start, position_encoding(self.ls))
        )

    def _context(self, req: Request, diagnostics: list[str]) -> Any:
        # A local-only file is trimmed for the local backend that will actually get it.
        plan = self.ls.engine.plan(req.tier, local_only=self.local_only(req.snapshot))
        if plan.primary is None:
            raise JobFailed(f"no usable backend for tier {req.tier}: {plan.why_empty()}")
        snap = req.snapshot
        try:
            return build_context(
                snap.text,
                snap.start,
                snap.end,
                language_id=snap.language_id,
                path=edits.relative_posix(Path(snap.path), self.ls.root) if snap.path else None,
                diagnostics=diagnostics,
                budget_tokens=plan.context_budget(prompts.OVERHEAD_TOKENS),
                index=snap.lines,
            )
        except ContextError as exc:
            raise JobFailed(f"{exc} ({plan.primary.name})") from None

    def test_path(self, snap: Snapshot) -> Path:
        assert snap.path is not None
        return edits.test_file_path(Path(snap.path), snap.language_id, self.ls.root)

    def local_only(self, snap: Snapshot) -> bool:
        # The very test the code-action listing uses: a run enforces what the list shows.
        return self.ls.is_local_only(snap.uri)
