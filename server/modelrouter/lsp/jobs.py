"""Running a chosen action as a job: start, track and cancel it, and take it from request
to model call to edit.

Each job runs in a task of its own, so that any of the cancellation routes
(`$/cancelRequest`, the progress's cancel button or `modelrouter.cancel`) cancels the task
running the engine, which closes the HTTP stream at once; nothing is applied. The steps
live beside this module: `requests` (snapshot, routing decision, prompt), `progress` (the
model call), `workspace_edits` (the answer as an edit) and `provenance_records`.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lsprotocol import types

from modelrouter.answer_checks import checks_for, on_answers
from modelrouter.config import Rules
from modelrouter.engine import Job, Outcome
from modelrouter.errors import JobFailed
from modelrouter.fixers import fixers_for
from modelrouter.lsp.contract import RunResult, parse
from modelrouter.lsp.documents import position_encoding
from modelrouter.lsp.progress import run_with_progress
from modelrouter.lsp.provenance_records import record
from modelrouter.lsp.requests import JOB, Request, Requests
from modelrouter.lsp.workspace_edits import WorkspaceEdits
from modelrouter.routing.decide import is_trivial_edit
from modelrouter.routing.escalation import (
    Check,
    CheckFailure,
    Escalation,
    EscalationPolicy,
    Tried,
    judged,
    refusal,
    run_checked,
)

if TYPE_CHECKING:
    from modelrouter.lsp.server import ModelRouterServer

log = logging.getLogger("modelrouter.lsp")


@dataclass
class Running:
    """A job in flight."""

    task: asyncio.Task[Any]
    msg_id: Any
    backend: str | None = None
    model: str | None = None


class Jobs:
    """Starts, tracks and cancels model jobs for one server."""

    def __init__(self, server: ModelRouterServer) -> None:
        self.ls = server
        self.running: dict[str, Running] = {}
        self.requests = Requests(server)
        self.edits = WorkspaceEdits(server, self.requests)

    def document_changed(self, uri: str) -> None:
        """Wake jobs waiting for the client to report their applied edit."""
        self.edits.document_changed(uri)

    def document_closed(self, uri: str) -> None:
        """Drop what waits on a document the client closed."""
        self.edits.document_closed(uri)

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

    async def run_command(self, args: Any, *, redo: bool) -> RunResult:
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
            return RunResult(applied=False, message="cancelled; nothing applied")
        finally:
            self.running.pop(job_id, None)
            self.requests.release(job_id)
            self.ls.forget_plans()
            self.ls.send_status()

    async def _job(self, raw: Any, *, redo: bool, job_id: str) -> RunResult:
        JOB.set(job_id)
        try:
            req = (
                self.requests.build_redo(parse(raw, redo=True))
                if redo
                else await self.requests.build(parse(raw, redo=False))
            )
            outcome = await self._call(req, job_id)
            try:
                return await self.edits.apply(req, outcome)
            except JobFailed as exc:
                exc.outcome, exc.tier = outcome, req.tier
                raise
        except JobFailed as exc:
            self.ls.show(f"ModelRouter: {exc}", types.MessageType.Warning)
            result = RunResult(applied=False, message=str(exc))
            if exc.outcome is not None:
                result.update(backend=exc.outcome.backend, model=exc.outcome.model, tier=exc.tier)
            return result

    async def _call(self, req: Request, job_id: str) -> Outcome:
        job = self._engine_job(req)
        rules = self.ls.rules
        assert rules is not None
        fixed = await self._fixed(req, job)
        fixer_tried: list[Tried] = []
        if fixed is not None:
            # A fixer's answer is checked too, but not held to a small model's edit size
            # (ruff format may rewrite quotes): a failure passes the request to the models.
            tried = await judged(self._checks(req, rules, trivial=False), fixed, job.tier)
            if (failure := tried.failure) is None:
                return fixed
            fixer_tried.append(tried)
            self.ls.engine.record_check(fixed, failure)
            req.fallbacks.append(f"the {fixed.backend} fixer's answer {failure}")
        # A redo is the user's own choice of a stronger model: its answer is applied as it is.
        checks = self._checks(req, rules) if req.escalated is None else []
        if not checks:
            return await run_with_progress(self.ls, req, job, self.running.get(job_id))

        def escalated(step: Escalation, outcome: Outcome) -> None:
            log.info(step.note)
            req.escalated = "; ".join(filter(None, [req.escalated, step.note]))
            req.fallbacks.append(f"{outcome.backend} answered code that {step.failure.summary}")

        async def run(job: Job) -> Outcome:
            # The request follows the job up the tiers (provenance describes the last one).
            req.tier, req.messages, req.prefer_backend = job.tier, job.messages, job.prefer_backend
            req.redo_of = job.redo_of
            return await run_with_progress(self.ls, req, job, self.running.get(job_id))

        checked = await run_checked(
            run,
            job,
            checks,
            EscalationPolicy(rules),
            on_escalate=escalated,
            on_failure=self.ls.engine.record_check,
        )
        req.tried = fixer_tried + checked.tried
        # The request describes the answer that stands (the last one asked may be refused).
        req.tier, req.messages = checked.job.tier, checked.job.messages
        if checked.failure is not None:
            failed = checked.outcome
            exc = JobFailed(
                refusal(rules, checked.job.tier, failed.model, checked.failure, checked.refused)
            )
            exc.outcome, exc.tier = failed, checked.job.tier
            self._keep_refused(req, failed, checked.failure)
            raise exc
        return checked.outcome

    def _keep_refused(self, req: Request, outcome: Outcome, failure: CheckFailure) -> None:
        """Keep the answer that was not applied, over the selection it was for, so that
        "Redo with a stronger model" there re-runs it one tier up."""
        snap = req.snapshot
        enc = position_encoding(self.ls)
        p0 = snap.lines.position_at(snap.start, enc)
        p1 = snap.lines.position_at(snap.end, enc)
        kept = record(self.ls, req, outcome, p0, p1)
        kept.escalated = f"{outcome.model}'s answer {failure}"
        self.requests.keep_refused(snap.uri, snap.version, kept)

    def _checks(self, req: Request, rules: Rules, *, trivial: bool | None = None) -> list[Check]:
        """The checks on the action's answers, bound to the edit each would make; `trivial`
        (default: whether the action is a trivial edit on its tier) adds the size checks."""
        action = req.action
        found = checks_for(
            rules,
            action,
            action.kind,
            req.snapshot.language_id,
            instruction=req.instruction or action.prompt,
            trivial=is_trivial_edit(rules, action, req.tier) if trivial is None else trivial,
        )
        return on_answers(found, lambda outcome: self.edits.edit_under_check(req, outcome))

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

    def _engine_job(self, req: Request) -> Job:
        ls = self.ls
        return Job(
            messages=req.messages,
            tier=req.tier,
            reason=req.reason,
            action=req.action.id,
            workspace=str(ls.root) if ls.root else None,
            path=req.snapshot.path,
            local_only=self.requests.local_only(req.snapshot),
            prefer_backend=req.prefer_backend,
            source="lsp",
            redo_of=req.redo_of,
        )
