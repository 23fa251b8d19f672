"""Running a job's model call on the engine with a server-created progress: which backend
is asked, its fallbacks and its token count, throttled, and cancellable (the cancel button
cancels the task running the engine, which closes the HTTP stream at once).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from typing import TYPE_CHECKING, Any

from lsprotocol import types

from modelrouter.engine import AttemptStarted, EngineError, FellBack, Job, Outcome, Progress
from modelrouter.errors import JobFailed

if TYPE_CHECKING:
    from modelrouter.lsp.jobs import Running
    from modelrouter.lsp.requests import Request
    from modelrouter.lsp.server import ModelRouterServer


log = logging.getLogger("modelrouter.lsp")

PROGRESS_INTERVAL_S = 0.1


async def run_with_progress(
    ls: ModelRouterServer, req: Request, job: Job, running: Running | None
) -> Outcome:
    """Run `job` on the engine, reporting its attempts, fallbacks and tokens as a
    cancellable progress, and noting the backend it runs on in `running`."""
    engine = ls.engine
    token = f"modelrouter/{uuid.uuid4().hex[:12]}"
    plan = engine.plan(job.tier, local_only=job.local_only)
    first = plan.primary
    title = f"{req.action.title}: {job.tier} → {first.model if first else '?'}"
    progress = await _begin(ls, token, title)
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


async def _begin(ls: ModelRouterServer, token: str, title: str) -> bool:
    """Start a server-created progress, cancellable; False when the client has none."""
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
