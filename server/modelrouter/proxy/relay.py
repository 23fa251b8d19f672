"""Runs one engine job for a streaming client: nothing is sent before the first token.

The engine may try several backends before one answers; until the answering backend's
first content event, a failure and the fallback that follows are invisible to the client
(and when every backend fails, the client gets a plain HTTP error). Once bytes are out, a
failure or a fallback ends the client's stream with an error event in its format: a
restarted answer would be spliced onto the text the client already has. A client that
disconnects aborts the job (`abort`); the relay then ends with `ClientGone`.

Content is handed over in batches: whatever the engine queued since the client's last write
goes out in one write, so a busy proxy makes fewer, larger writes and an idle one still
sends each token the moment it arrives.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from modelrouter.backends.base import ContentEvent, TextDelta
from modelrouter.engine import (
    AttemptStarted,
    Engine,
    EngineError,
    FellBack,
    Job,
    Outcome,
    Piece,
    Progress,
)
from modelrouter.proxy.hangup import ClientGone

_END = object()


class StreamBroken(Exception):
    """The answer failed after bytes reached the client; the message says why."""


@dataclass(frozen=True)
class Started:
    """The first content arrived: who answers, with what model."""

    backend: str
    model: str


class Relay:
    """One job's events, in order, for a client that reads them as a stream."""

    def __init__(self, engine: Engine, job: Job) -> None:
        self._queue: asyncio.Queue[object] = asyncio.Queue()
        self._task = asyncio.create_task(engine.run(job, self._queue.put_nowait))
        self._task.add_done_callback(lambda _: self._queue.put_nowait(_END))
        self._held: list[ContentEvent] = []
        self._model = ""
        self.started: Started | None = None
        self.outcome: Outcome | None = None
        self._closing = False

    async def first(self) -> Started | Outcome:
        """Wait for the answering backend's first content (or the whole answer if it had
        none). Raises `EngineError` when no backend could answer."""
        backend = ""
        while True:
            item = await self._queue.get()
            if item is _END:
                self.outcome = self._result()  # raises EngineError
                return self.outcome
            if isinstance(item, AttemptStarted):
                backend, self._model = item.backend, item.model
            elif isinstance(item, FellBack):
                self._held.clear()
            elif (content := _content(item)) is not None:
                self._held.append(content)
                self.started = Started(backend, self._model)
                return self.started

    async def batches(self) -> AsyncIterator[list[ContentEvent]]:
        """Content after `first()`, each batch what arrived since the last one; raises
        `StreamBroken` on a failure once bytes are out, `ClientGone` after `abort()`."""
        batch, self._held = self._held, []
        while True:
            items = [] if batch else [await self._queue.get()]
            while not self._queue.empty():
                items.append(self._queue.get_nowait())
            for item in items:
                if item is _END:
                    if batch:
                        yield batch
                    try:
                        self.outcome = self._result()
                    except EngineError as exc:
                        raise StreamBroken(exc.message.splitlines()[-1].strip()) from None
                    return
                if isinstance(item, FellBack):
                    # The engine would restart on the next backend; the client already has
                    # part of this answer, so stop here and say so.
                    if batch:
                        yield batch
                    self.abort()
                    raise StreamBroken(f"{item.from_backend} failed mid-answer ({item.error})")
                content = _content(item)
                if content is not None:
                    batch.append(content)
            if batch:
                yield batch
                batch = []

    def _result(self) -> Outcome:
        if self._task.cancelled():
            raise ClientGone
        return self._task.result()

    def abort(self) -> None:
        """Stop the job now if it still runs (the client went away). Cancels once only: a
        second cancellation would interrupt the engine while it cleans up."""
        if not self._task.done() and not self._closing:
            self._closing = True
            self._task.cancel()

    async def aclose(self) -> None:
        """Stop the job if it still runs and wait until it has recorded itself."""
        self.abort()
        if not self._task.done():
            with contextlib.suppress(asyncio.CancelledError, EngineError):
                await self._task


def _content(item: object) -> ContentEvent | None:
    if isinstance(item, Progress):
        return TextDelta(item.text) if item.text else None
    if isinstance(item, Piece):
        return item.event
    return None
