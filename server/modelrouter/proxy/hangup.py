"""A client that closes its connection stops its request's upstream call at once.

Starlette notices a disconnect only while it streams a body itself; an endpoint still
waiting for the engine (a whole answer, or a stream before its first token) would go on
paying for an answer nobody reads. `Hangup` watches one request's connection from the
moment its body is read until its answer is written, and runs the request's stop callbacks
(cancel the engine task) the moment the client goes away. The engine then closes the
provider's HTTP stream and records the request as cancelled, as it does for an editor's
cancellation: one complete ledger row saying what was tried, never a half-written one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from starlette.types import Receive

T = TypeVar("T")


class ClientGone(Exception):
    """The client disconnected before its answer was complete; nothing more can reach it."""


class Hangup:
    """Watches one request's connection; `stop()` when its answer is written."""

    def __init__(self, receive: Receive) -> None:
        self.gone = False
        self._callbacks: list[Callable[[], None]] = []
        self._watch = asyncio.ensure_future(self._wait(receive))

    async def _wait(self, receive: Receive) -> None:
        # The body is read by now: the server's next message is the disconnect (uvicorn
        # also resumes reading the socket for it, so a closed connection is seen at once).
        while (await receive())["type"] != "http.disconnect":
            pass
        self.gone = True
        for callback in self._callbacks:
            callback()

    def on_gone(self, callback: Callable[[], None]) -> None:
        """Run `callback` when the client disconnects (at once if it already has)."""
        if self.gone:
            callback()
        else:
            self._callbacks.append(callback)

    async def unless_gone(self, work: Awaitable[T]) -> T:
        """`work`'s result; when the client disconnects first, `work` is cancelled, waited
        for (so it records itself), and `ClientGone` is raised."""
        if self.gone:
            raise ClientGone
        task = asyncio.ensure_future(work)
        self._callbacks.append(task.cancel)
        try:
            # wait() rather than await: the task's cancellation must not look like ours.
            await asyncio.wait({task})
        except asyncio.CancelledError:
            task.cancel()  # we are cancelled (shutdown): so is the work
            raise
        finally:
            self._callbacks.remove(task.cancel)
        if task.cancelled() and self.gone:
            raise ClientGone
        return task.result()

    def stop(self) -> None:
        """The answer is written (or abandoned): stop watching."""
        self._callbacks.clear()
        self._watch.cancel()
