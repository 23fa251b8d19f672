"""Runs one engine job for a streaming client: nothing is sent before the first token.

The engine may try several backends before one answers; until the answering backend's
first content event, a failure and the fallback that follows are invisible to the client
(and when every backend fails, the client gets a plain HTTP error). Once bytes are out, a
failure or a fallback ends the client's stream with an error event in its format: a
restarted answer would be spliced onto the text the client already has.
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
                self.outcome = self._task.result()  # raises EngineError
                return self.outcome
            if isinstance(item, AttemptStarted):
                backend, self._model = item.backend, item.model
            elif isinstance(item, FellBack):
                self._held.clear()
            elif (content := _content(item)) is not None:
                self._held.append(content)
                self.started = Started(backend, self._model)
                return self.started

    async def events(self) -> AsyncIterator[ContentEvent]:
        """Content after `first()`; raises `StreamBroken` on a failure once bytes are out."""
        for event in self._held:
            yield event
        self._held.clear()
        while True:
            item = await self._queue.get()
            if item is _END:
                try:
                    self.outcome = self._task.result()
                except EngineError as exc:
                    raise StreamBroken(exc.message.splitlines()[-1].strip()) from None
                return
            if isinstance(item, FellBack):
                # The engine would restart on the next backend; the client already has part
                # of this answer, so stop here and say so.
                self._closing = True
                self._task.cancel()
                raise StreamBroken(f"{item.from_backend} failed mid-answer ({item.error})")
            content = _content(item)
            if content is not None:
                yield content

    async def aclose(self) -> None:
        """Stop the job if it still runs (the client went away). Cancels once only: a
        second cancellation would interrupt the engine while it cleans up."""
        if self._task.done() or self._closing:
            return
        self._closing = True
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError, EngineError):
            await self._task


def _content(item: object) -> ContentEvent | None:
    if isinstance(item, Progress):
        return TextDelta(item.text) if item.text else None
    if isinstance(item, Piece):
        return item.event
    return None
