"""Running a chosen action: context, model call with progress, and the resulting edit.

A job snapshots the document (text and version) when it starts and marks it, so that the
document logs its changes from then on. When the answer arrives the range is followed
through those changes: typing elsewhere moves it, typing inside it refuses the edit (the
range is never looked for by its text, which may have a twin elsewhere). Cancelling (by
`$/cancelRequest`, the progress's cancel button or `modelrouter.cancel`) cancels the task
running the engine, which closes the HTTP stream at once; nothing is applied.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lsprotocol import types
from pygls.uris import from_fs_path, to_fs_path

from modelrouter import edits, prompts
from modelrouter.context import ContextError, build_context
from modelrouter.document import Document
from modelrouter.engine import AttemptStarted, EngineError, FellBack, Job, Outcome, Progress
from modelrouter.errors import JobFailed, RoutingError
from modelrouter.fixers import fixers_for
from modelrouter.positions import LineIndex, Pos, newline_of, position_at, strip_break
from modelrouter.provenance import Record
from modelrouter.python_syntax import edit_breaks_python
from modelrouter.redact import hide_values
from modelrouter.routing.decide import RouteRequest, route
from modelrouter.routing.escalation import (
    CheckFailure,
    Escalation,
    EscalationPolicy,
    redo_tier,
    run_checked,
)
from modelrouter.routing.sticky import Prior
from modelrouter.tokens import estimate_tokens
from modelrouter.transcript import Message

if TYPE_CHECKING:
    from modelrouter.config import Action
    from modelrouter.lsp.server import ModelRouterServer

log = logging.getLogger("modelrouter.lsp")

# Room kept for the system prompt, the task text and formatting around the context.
PROMPT_OVERHEAD_TOKENS = 600
PROGRESS_INTERVAL_S = 0.1
APPLY_SETTLE_S = 2.0

# The job whose snapshots hold marks on documents (released when it ends).
_JOB: contextvars.ContextVar[str | None] = contextvars.ContextVar("modelrouter_job", default=None)


@dataclass
class Running:
    """A job in flight."""

    task: asyncio.Task[Any]
    msg_id: Any
    backend: str | None = None
    model: str | None = None


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


class Jobs:
    """Starts, tracks and cancels model jobs for one server."""

    def __init__(self, server: ModelRouterServer) -> None:
        self.ls = server
        self.running: dict[str, Running] = {}
        self._changed: dict[str, list[asyncio.Future[None]]] = {}
        # Provenance waiting for a didChange that comes after the settle wait.
        self._late: dict[str, list[Callable[[], None]]] = {}
        self._marks: dict[str, list[tuple[Document, int]]] = {}

    # --- bookkeeping ----------------------------------------------------------------------

    def running_backend(self) -> tuple[str | None, str | None] | None:
        """(backend, model) of the newest running job, or None when idle."""
        if not self.running:
            return None
        job = list(self.running.values())[-1]
        return job.backend, job.model

    def cancel_request(self, msg_id: Any) -> None:
        """Cancel the job started by request `msg_id` (from `$/cancelRequest`)."""
        for job in self.running.values():
            if job.msg_id == msg_id:
                job.task.cancel()

    def cancel_all(self) -> int:
        """Cancel every running job; returns how many."""
        n = 0
        for job in self.running.values():
            if not job.task.done():
                job.task.cancel()
                n += 1
        return n

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

    # --- entry point ----------------------------------------------------------------------

    async def run_command(self, args: dict[str, Any], *, redo: bool) -> dict[str, Any]:
        """`modelrouter.run` / `modelrouter.redo`: run in a task of its own so that any of
        the cancellation routes can stop it, and report the result as a plain object."""
        job_id = uuid.uuid4().hex
        inner = asyncio.ensure_future(self._job(args, redo=redo, job_id=job_id))
        self.running[job_id] = Running(inner, self.ls.protocol.msg_id)
        self.ls.send_status()
        try:
            return await inner
        except asyncio.CancelledError:
            if not inner.cancelled():
                raise
            log.info("request cancelled; nothing applied")
            return {"applied": False, "message": "cancelled; nothing applied"}
        finally:
            self.running.pop(job_id, None)
            for doc, mark in self._marks.pop(job_id, []):
                doc.release(mark)
            self.ls.forget_plans()
            self.ls.send_status()

    async def _job(self, args: dict[str, Any], *, redo: bool, job_id: str) -> dict[str, Any]:
        _JOB.set(job_id)
        try:
            _check_args(args, redo=redo)
            req = self._redo_request(args) if redo else await self._request(args)
            outcome = await self._call(req, job_id)
            try:
                return await self._apply(req, outcome)
            except JobFailed as exc:
                exc.outcome, exc.tier = outcome, req.tier
                raise
        except JobFailed as exc:
            self.ls.show(f"ModelRouter: {exc}", types.MessageType.Warning)
            result: dict[str, Any] = {"applied": False, "message": str(exc)}
            if exc.outcome is not None:
                result.update(backend=exc.outcome.backend, model=exc.outcome.model, tier=exc.tier)
            return result

    # --- building the request -------------------------------------------------------------

    def _snapshot(self, uri: str, rng: dict[str, Any] | None) -> Snapshot:
        opened = self._open_document(uri)
        doc: Any = opened or self.ls.workspace.get_text_document(uri)
        try:
            text = doc.source  # read from disk when the editor has not opened it
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            why = getattr(exc, "strerror", None) or str(exc)
            raise JobFailed(f"cannot read {uri}: not open in the editor ({why})") from None
        enc = _encoding(self.ls)
        lines = opened.lines if opened is not None else LineIndex(text)
        if rng is None:
            start = end = 0
        else:
            first = min(rng["start"]["line"], rng["end"]["line"])
            if first >= lines.line_count:
                # Clamping would send the model an empty selection and insert at the end.
                raise JobFailed(
                    f"the range starts at line {first + 1}, past the end of the document "
                    f"({lines.line_count} lines); nothing was changed"
                )
            start = lines.offset_at(_pos(rng["start"]), enc)
            end = lines.offset_at(_pos(rng["end"]), enc)
        if start > end:
            start, end = end, start
        if start == end:
            # No selection: the whole line under the cursor.
            start = lines.line_start(lines.line_of(start))
            end = lines.next_line_start(end)
        path = to_fs_path(uri) if uri.startswith("file:") else None
        snap = Snapshot(uri, text, doc.version, start, end, doc.language_id or "plaintext", path)
        snap.index = lines
        job_id = _JOB.get()
        if opened is not None and job_id is not None:
            snap.document, snap.mark = opened, opened.mark()
            self._marks.setdefault(job_id, []).append((opened, snap.mark))
        return snap

    def _open_document(self, uri: str) -> Document | None:
        doc = self.ls.workspace.text_documents.get(uri)
        return doc if isinstance(doc, Document) else None

    def _current_range(self, snap: Snapshot) -> tuple[str, int | None, int, int]:
        """(text, version, start, end) of the snapshot's range in the document as it is now,
        followed through the document's own changes; JobFailed when that cannot be proved."""
        now = self._open_document(snap.uri)
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

    async def _request(self, args: dict[str, Any]) -> Request:
        rules = self.ls.ensure_rules()
        if rules is None:
            raise JobFailed("no usable rules: " + "; ".join(self.ls.rules_errors))
        action_id = args.get("action")
        action = rules.actions.get(action_id or "")
        if action is None:
            raise JobFailed(f"unknown action {action_id!r}")
        uri = args.get("uri")
        if not uri:
            raise JobFailed("no document given")
        instruction = (args.get("instruction") or "").strip() or None
        if action.needs_instruction and not instruction:
            raise JobFailed(f"{action.title} needs an instruction")
        snap = self._snapshot(uri, args.get("range"))
        selection = snap.text[snap.start : snap.end]
        # A follow-up on model-written code keeps that conversation and, unless the new
        # action needs a stronger tier, its tier and model.
        prior = self._record_over(snap)
        follows = prior is not None and bool(prior.transcript) and action.kind == "rewrite"
        routed = RouteRequest(
            text=instruction or selection,
            language=snap.language_id,
            path=snap.path,
            workspace=str(self.ls.root) if self.ls.root else None,
            selection_tokens=estimate_tokens(selection),
            tier=None if action.tier == "auto" else action.tier,
            tier_reason=f"action {action.id} is set to tier {action.tier}",
            follow_up=Prior(prior.tier, prior.backend, prior.model)
            if follows and prior is not None
            else None,
            # What the listing shows, symlinks and non-file documents included.
            local_only=self._local_only(snap),
        )
        try:
            decision = await route(rules, routed, engine=self.ls.engine)
        except RoutingError as exc:
            raise JobFailed(str(exc)) from None
        req = Request(action, snap, decision.tier, decision.reason, [])
        req.prefer_backend = decision.prefer_backend
        diagnostics = list(args.get("diagnostics") or [])
        if follows and prior is not None:
            ctx = self._context(req, diagnostics)
            transcript = [Message(**m) for m in prior.transcript]
            req.messages = prompts.follow_up(transcript, action, ctx, instruction=instruction)
        else:
            ctx = self._context(req, diagnostics)
            test_path = None
            if action.kind == "tests" and snap.path:
                test_path = edits.relative_posix(self._test_path(snap), self.ls.root)
            req.messages = prompts.build_messages(
                action, ctx, instruction=instruction, test_path=test_path
            )
        return req

    def _redo_request(self, args: dict[str, Any]) -> Request:
        rules = self.ls.ensure_rules()
        if rules is None:
            raise JobFailed("no usable rules: " + "; ".join(self.ls.rules_errors))
        uri = args.get("uri") or ""
        pos = _pos(args.get("position") or {"line": 0, "character": 0})
        record = self.ls.store.at(uri, (pos.line, pos.character))
        if record is None:
            raise JobFailed("no model-written code here to redo")
        try:
            upper = redo_tier(rules, record.tier, record.model)
        except RoutingError as exc:
            raise JobFailed(str(exc)) from None
        action = rules.actions.get(record.action)
        if action is None:
            raise JobFailed(f"action {record.action!r} is no longer in the rules")
        rng = {
            "start": {"line": record.start[0], "character": record.start[1]},
            "end": {"line": record.end[0], "character": record.end[1]},
        }
        snap = self._snapshot(uri, rng)
        transcript = [Message(**m) for m in record.transcript]
        messages = prompts.retry(
            transcript,
            "the user asked for a stronger model to redo it; the code it wrote is now:\n"
            + prompts.fence(snap.text[snap.start : snap.end], snap.language_id),
        )
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
        return self.ls.store.at(snap.uri, snap.lines.position_at(snap.start, _encoding(self.ls)))

    def _context(self, req: Request, diagnostics: list[str]) -> Any:
        # A local-only file is trimmed for the local backend that will actually get it.
        plan = self.ls.engine.plan(req.tier, local_only=self._local_only(req.snapshot))
        if plan.primary is None:
            raise JobFailed(f"no usable backend for tier {req.tier}: {plan.why_empty()}")
        budget = plan.primary.context_window - plan.primary.max_output_tokens
        budget -= PROMPT_OVERHEAD_TOKENS
        snap = req.snapshot
        try:
            return build_context(
                snap.text,
                snap.start,
                snap.end,
                language_id=snap.language_id,
                path=edits.relative_posix(Path(snap.path), self.ls.root) if snap.path else None,
                diagnostics=diagnostics,
                budget_tokens=max(budget, 256),
                index=snap.lines,
            )
        except ContextError as exc:
            raise JobFailed(f"{exc} ({plan.primary.name})") from None

    def _test_path(self, snap: Snapshot) -> Path:
        assert snap.path is not None
        return edits.test_file_path(Path(snap.path), snap.language_id, self.ls.root)

    # --- the model call -------------------------------------------------------------------

    async def _call(self, req: Request, job_id: str) -> Outcome:
        job = self._engine_job(req)
        fixed = await self._fixed(req, job)
        if fixed is not None:
            return fixed
        if req.action.kind != "rewrite" or req.escalated is not None:
            return await self._engine_run(req, job, job_id)
        rules = self.ls.rules
        assert rules is not None

        async def syntax(outcome: Outcome) -> CheckFailure | None:
            broken = await self._broken_python(req, outcome)
            if broken is None:
                return None
            return CheckFailure(
                "syntax", "did not parse", broken, f"the code does not parse ({broken})"
            )

        def escalated(step: Escalation, outcome: Outcome) -> None:
            log.info(step.note)
            req.escalated = step.note
            req.fallbacks.append(f"{outcome.backend} answered code that {step.failure.summary}")

        async def run(job: Job) -> Outcome:
            # The request follows the job up the tiers (provenance describes the last one).
            req.tier, req.messages, req.prefer_backend = job.tier, job.messages, job.prefer_backend
            req.redo_of = job.redo_of
            return await self._engine_run(req, job, job_id)

        checked = await run_checked(
            run, job, [syntax], EscalationPolicy(rules), on_escalate=escalated
        )
        return checked.outcome

    async def _fixed(self, req: Request, job: Job) -> Outcome | None:
        """The answer of a deterministic fixer for the action, if one changes the selection.
        A redo asks for a stronger model, so it skips the fixers."""
        rules = self.ls.rules
        if rules is None or req.action.kind != "rewrite" or req.redo_of is not None:
            return None
        snap = req.snapshot
        found = fixers_for(rules, req.action.id, snap.language_id)
        selection = snap.text[snap.start : snap.end]
        outcome = await self.ls.engine.answer_by_fixer(job, found, selection, snap.language_id)
        if outcome is not None:
            self.ls.last_backend, self.ls.last_model = outcome.backend, outcome.model
        return outcome

    async def _broken_python(self, req: Request, outcome: Outcome) -> str | None:
        """Why the edited code stops parsing as Python, when it parsed before (checked on the
        edited top-level statements, in a worker thread)."""
        snap = req.snapshot
        if snap.language_id != "python":
            return None
        try:
            code = edits.extract_code(outcome.text, snap.language_id)
        except edits.NoUsableCode:
            return None
        start, end = self._widened(snap, code)
        new_code = edits.reindent(
            code,
            snap.text[start:end],
            line_indent=edits.indent_before(snap.text, start),
            newline=newline_of(snap.text),
        )
        return await edit_breaks_python(snap.text, start, end, new_code, snap.lines)

    def _engine_job(self, req: Request) -> Job:
        ls = self.ls
        return Job(
            messages=req.messages,
            tier=req.tier,
            reason=req.reason,
            action=req.action.id,
            workspace=str(ls.root) if ls.root else None,
            path=req.snapshot.path,
            local_only=self._local_only(req.snapshot),
            prefer_backend=req.prefer_backend,
            source="lsp",
            redo_of=req.redo_of,
        )

    async def _engine_run(self, req: Request, job: Job, job_id: str) -> Outcome:
        ls = self.ls
        engine = ls.engine
        running = self.running.get(job_id)
        token = f"modelrouter/{uuid.uuid4().hex[:12]}"
        plan = engine.plan(job.tier, local_only=job.local_only)
        first = plan.primary
        title = f"{req.action.title}: {job.tier} → {first.model if first else '?'}"
        progress = await self._progress_begin(token, title)
        last_report = 0.0
        fallbacks = req.fallbacks

        def on_event(event: Any) -> None:
            nonlocal last_report
            message = None
            if isinstance(event, AttemptStarted):
                if running:
                    running.backend, running.model = event.backend, event.model
                ls.send_status()
                message = f"asking {event.backend} ({event.model})"
            elif isinstance(event, FellBack):
                fallbacks.append(f"{event.from_backend} failed ({event.error})")
                nxt = f" → {event.to_backend}" if event.to_backend else ""
                message = f"{event.from_backend} failed{nxt}"
            elif isinstance(event, Progress):
                now = time.monotonic()
                if now - last_report < PROGRESS_INTERVAL_S:
                    return
                last_report = now
                message = f"{event.backend}: {event.output_tokens} tokens"
            if message and progress:
                if fallbacks:
                    message += f" · fallbacks: {len(fallbacks)}"
                ls.work_done_progress.report(
                    token, types.WorkDoneProgressReport(message=message, cancellable=True)
                )

        end_message = "cancelled"
        try:
            outcome = await engine.run(job, on_event)
            end_message = f"answered by {outcome.backend} ({outcome.model})"
        except EngineError as exc:
            end_message = "failed"
            raise JobFailed(exc.message) from None
        finally:
            if progress:
                ls.work_done_progress.end(token, types.WorkDoneProgressEnd(message=end_message))
                ls.work_done_progress.tokens.pop(token, None)
        ls.last_backend, ls.last_model = outcome.backend, outcome.model
        return outcome

    def _local_only(self, snap: Snapshot) -> bool:
        # The very test the code-action listing uses: a run enforces what the list shows.
        return self.ls.is_local_only(snap.uri)

    async def _progress_begin(self, token: str, title: str) -> bool:
        """Start a server-created progress, cancellable; False when the client has none."""
        ls = self.ls
        window = ls.client_capabilities.window
        if not (window and window.work_done_progress):
            return False
        try:
            await ls.work_done_progress.create_async(token)
        except Exception as exc:
            log.info("client refused a progress token: %s", exc)
            return False
        fut = ls.work_done_progress.tokens.get(token)
        task = asyncio.current_task()
        if fut is not None and task is not None:
            fut.add_done_callback(lambda f: task.cancel() if f.cancelled() else None)
        ls.work_done_progress.begin(
            token, types.WorkDoneProgressBegin(title=title, cancellable=True, percentage=None)
        )
        return True

    # --- applying -------------------------------------------------------------------------

    async def _apply(self, req: Request, outcome: Outcome) -> dict[str, Any]:
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

    def _record(self, req: Request, outcome: Outcome, start: Any, end: Any) -> Record:
        rules = self.ls.rules
        cfg = rules.backends.get(outcome.backend) if rules else None
        fallbacks = list(req.fallbacks) + [
            f"{s.backend} skipped: {s.reason}" for s in outcome.skipped
        ]
        keys = self.ls.engine.api_keys()
        return Record(
            id=uuid.uuid4().hex,
            start=(start.line, start.character),
            end=(end.line, end.character),
            backend=outcome.backend,
            model=outcome.model,
            tier=req.tier,
            reason=req.reason,
            action=req.action.id,
            local=bool(cfg and cfg.is_local),
            fallbacks=fallbacks,
            input_tokens=outcome.usage.input_tokens,
            output_tokens=outcome.usage.output_tokens,
            estimated=outcome.usage.estimated,
            cost_usd=outcome.cost_usd,
            top_tier_cost_usd=outcome.top_tier_cost_usd,
            latency_s=outcome.latency_s,
            first_token_s=outcome.first_token_s,
            redactions=outcome.redactions,
            escalated=req.escalated,
            # Persisted to disk: configured API keys never go with it, even when they were
            # pasted into the code.
            transcript=[
                {
                    "role": m.role,
                    "content": hide_values(m.content, keys),
                    "model": m.model,
                    "backend": m.backend,
                }
                for m in [*req.messages, outcome.as_message()]
            ],
            ledger_id=outcome.ledger_id,
            fixer=outcome.fixer,
        )

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

    async def _apply_rewrite(self, req: Request, outcome: Outcome) -> dict[str, Any]:
        snap = req.snapshot
        try:
            code = edits.extract_code(outcome.text, snap.language_id)
        except edits.NoUsableCode as exc:
            if req.action.needs_instruction and outcome.text.strip():
                # A free-form request may be a question: a reply without code is its answer.
                return await self._show_answer(req, outcome)
            raise JobFailed(f"{exc}; nothing was changed") from None
        snap.start, snap.end = self._widened(snap, code)
        original = snap.text[snap.start : snap.end]
        new_text = edits.reindent(
            code,
            original,
            line_indent=edits.indent_before(snap.text, snap.start),
            newline=newline_of(snap.text),
        )
        if new_text == original:
            raise JobFailed(f"{outcome.model} returned the code unchanged; nothing to apply")
        too_big = edits.oversized_edit(original, new_text, trivial=self._trivial(req))
        if too_big:
            raise JobFailed(
                f"{outcome.model}'s answer is out of proportion: {too_big}; nothing was changed"
            )
        now_text, now_version, start, end = self._current_range(snap)
        enc = _encoding(self.ls)
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
            snap.uri, now_version, lambda: self._remember(snap.uri, start, new_text, req, outcome)
        )
        moved = " (re-anchored after your edits)" if now_version != snap.version else ""
        return {"applied": True, "message": f"applied {req.action.title}{moved}"}

    def _trivial(self, req: Request) -> bool:
        """Whether the action is on the cheapest tier (its edits stay the size of the code)."""
        rules = self.ls.rules
        tier = req.action.tier if req.action.tier != "auto" else req.tier
        return rules is not None and tier in rules.tiers and rules.tier_rank(tier) == 0

    def _widened(self, snap: Snapshot, code: str) -> tuple[int, int]:
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

    def _remember(
        self, uri: str, start: int, new_text: str, req: Request, outcome: Outcome
    ) -> None:
        """Record provenance for text the client now holds at `start` (or nearby)."""
        text = self.ls.workspace.get_text_document(uri).source
        if text[start : start + len(new_text)] != new_text:
            # The client changed the text differently (or not yet): a record placed by a
            # search could sit on a twin of the edit, so none is made.
            log.info("applied text not where it was sent in %s; no provenance recorded", uri)
            return
        enc = _encoding(self.ls)
        # Trailing line break: the range ends at the end of the last written line.
        body = strip_break(new_text)
        lines = LineIndex(text)
        p0 = lines.position_at(start, enc)
        p1 = lines.position_at(start + len(body), enc)
        self.ls.store.add(uri, self._record(req, outcome, p0, p1))
        self.ls.store.save(uri, text)

    async def _apply_tests(self, req: Request, outcome: Outcome) -> dict[str, Any]:
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
        path = self._test_path(snap)
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
            at = position_at(existing, len(existing), _encoding(self.ls))
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
        enc = _encoding(self.ls)
        body = insert.rstrip("\n")
        lead = len(insert) - len(insert.lstrip("\n"))
        lines = LineIndex(final)
        p0 = lines.position_at(offset + lead, enc)
        p1 = lines.position_at(offset + len(body), enc)
        self.ls.store.add(uri, self._record(req, outcome, p0, p1))
        self.ls.store.save(uri, final)
        verb = "added to" if existing is not None else "created"
        shown = edits.relative_posix(path, self.ls.root)
        return {"applied": True, "message": f"tests {verb} {shown}", "uri": uri}

    async def _apply_design(self, req: Request, outcome: Outcome) -> dict[str, Any]:
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
        end = position_at(text, len(text.rstrip("\n")), _encoding(self.ls))
        self.ls.store.add(uri, self._record(req, outcome, Pos(0, 0), end))
        self.ls.store.save(uri, text)
        await self._show(uri)
        return {
            "applied": True,
            "message": f"design note {edits.relative_posix(path, self.ls.root)}",
            "uri": uri,
        }

    async def _show_answer(self, req: Request, outcome: Outcome) -> dict[str, Any]:
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


def _client_shows_answers(ls: ModelRouterServer) -> bool:
    """True when the client declared `experimental.modelrouter.showAnswers`: it shows the
    `answer` of a result in its own view, so opening the answer file (which would attach
    the client's language server to a file outside any project) is left out."""
    experimental = ls.client_capabilities.experimental
    own = experimental.get("modelrouter") if isinstance(experimental, dict) else None
    return isinstance(own, dict) and own.get("showAnswers") is True


def _check_args(args: Any, *, redo: bool) -> None:
    """Refuse malformed command arguments with a message saying which one is wrong."""
    name = "modelrouter.redo" if redo else "modelrouter.run"
    if not isinstance(args, dict):
        raise JobFailed(f"{name} expects one object argument")
    if not isinstance(args.get("uri"), str) or not args["uri"]:
        raise JobFailed(f"{name}: 'uri' must be a document URI")
    if redo:
        if args.get("position") is not None:
            _check_position(args["position"], f"{name}: 'position'")
        return
    if not isinstance(args.get("action"), str) or not args["action"]:
        raise JobFailed(f"{name}: 'action' must be an action id")
    rng = args.get("range")
    if rng is not None:
        if not isinstance(rng, dict) or "start" not in rng or "end" not in rng:
            raise JobFailed(f"{name}: 'range' must be {{start, end}}")
        _check_position(rng["start"], f"{name}: 'range.start'")
        _check_position(rng["end"], f"{name}: 'range.end'")
    if args.get("instruction") is not None and not isinstance(args["instruction"], str):
        raise JobFailed(f"{name}: 'instruction' must be text")
    diagnostics = args.get("diagnostics")
    if diagnostics is not None and not (
        isinstance(diagnostics, list) and all(isinstance(d, str) for d in diagnostics)
    ):
        raise JobFailed(f"{name}: 'diagnostics' must be a list of strings")


def _check_position(raw: Any, what: str) -> None:
    ok = isinstance(raw, dict) and all(
        isinstance(raw.get(k), int) and not isinstance(raw.get(k), bool) and raw[k] >= 0
        for k in ("line", "character")
    )
    if not ok:
        raise JobFailed(f"{what} must be {{line, character}} with whole numbers from 0")


def _pos(raw: dict[str, Any]) -> Pos:
    return Pos(int(raw.get("line", 0)), int(raw.get("character", 0)))


def _lsp(p: Pos) -> types.Position:
    return types.Position(line=p.line, character=p.character)


def _encoding(ls: ModelRouterServer) -> str:
    enc = ls.workspace.position_encoding
    return str(getattr(enc, "value", enc) or "utf-16")
