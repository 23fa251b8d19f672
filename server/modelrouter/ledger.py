"""The ledger: every request, what answered it, what it cost and what it saved.

A SQLite file per user by default (``ledger.sqlite3`` in ``$MODELROUTER_DATA_DIR`` or
platformdirs' user data dir), shared by the language server and every ``modelrouter``
command running at the same time; or, for a team, a PostgreSQL database shared by every
process on every host (``ledger: postgresql://...`` in the rules, or
``$MODELROUTER_LEDGER_URL``). The same schema and migrations serve both (`ledger_db`,
`ledger_schema`).

Recording never costs the user an answer. Rows are written in a writer thread; when the
database cannot take one (connection lost, file locked, server restarting) it waits in a
bounded in-memory queue and is written, in order, once the database is back — retried every
`RETRY_S` seconds. Past `QUEUE_LIMIT` rows the newest are dropped, counted, logged, and the
count is written to the `dropped` table when the database is back so `stats` reports it. A
row carries its own `uid`, so one written twice (a commit whose reply was lost) is stored
once. Reading (``modelrouter stats``/``report``) raises :class:`LedgerError` with a clear
message.

Privacy: the request text is not stored, except for requests that carry a routing label —
an explicit tier override or a "redo with a stronger model" — whose text is what
``modelrouter train --from-history`` learns from (see :meth:`Ledger.labels`); and never
when it contains a secret (see ``redact.scan``).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from modelrouter.errors import LedgerError
from modelrouter.ledger_db import (
    Connection,
    Database,
    Row,
    SQLiteDatabase,
    is_url,
    open_database,
)
from modelrouter.ledger_schema import schema_version
from modelrouter.paths import data_dir

if TYPE_CHECKING:  # the engine imports this module; these are for annotations only
    from modelrouter.config import Rules
    from modelrouter.engine import Attempt, Job, Outcome
    from modelrouter.routing.plan import Skip

log = logging.getLogger(__name__)

LEDGER_FILENAME = "ledger.sqlite3"
LEDGER_URL_ENV = "MODELROUTER_LEDGER_URL"
PROMPT_MAX_CHARS = 8000  # label texts are instructions, not whole files
CHECK_MAX_CHARS = 2000  # a check's detail names what failed; tool output is cut here
QUEUE_LIMIT = 10_000  # rows held in memory while the database is unreachable
RETRY_S = 1.0  # how often a queued row is retried
SCHEMA_VERSION = schema_version()

T = TypeVar("T")


@dataclass
class AttemptRecord:
    """One backend tried for a request. `outcome` is "ok", "skipped" or an error kind."""

    backend: str
    model: str = ""
    outcome: str = "ok"
    error: str | None = None
    elapsed_s: float = 0.0


@dataclass
class RequestRecord:
    """One ledger entry. `id` is set once it is stored (or read back)."""

    tier: str
    backend: str | None = None
    model: str | None = None
    status: str = "ok"
    source: str = "lsp"
    client: str | None = None  # proxy requests: the client program (from its user-agent)
    workspace: str | None = None
    action: str | None = None
    reason: str = ""
    attempts: list[AttemptRecord] = field(default_factory=list)
    input_tokens: int = 0
    output_tokens: int = 0
    tokens_estimated: bool = False
    cost_usd: float = 0.0
    top_tier_cost_usd: float = 0.0
    latency_s: float | None = None
    first_token_s: float | None = None
    fallback: bool = False
    redactions: int = 0
    error: str | None = None
    tier_override: str | None = None
    redo_of: int | None = None
    # An automatic re-ask: "<check>: <detail>" of the failed answer it replaces (`redo_of`).
    escalation: str | None = None
    check_failed: str | None = None  # the check this answer failed (set by submit_check)
    check_detail: str | None = None
    prompt: str | None = None
    key: str | None = None  # the proxy key's name the request came in with
    ts: float = field(default_factory=time.time)
    id: int | None = None
    uid: str = field(default_factory=lambda: uuid.uuid4().hex)  # written at most once
    # Budget reservations this request held; recording it gives them back (not stored).
    reservations: list[int] = field(default_factory=list)

    @property
    def saved_usd(self) -> float:
        """Spend avoided versus sending the same request to the top tier."""
        return self.top_tier_cost_usd - self.cost_usd if self.status == "ok" else 0.0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view (the prompt is left out)."""
        return {
            "id": self.id,
            "time": self.ts,
            "source": self.source,
            "client": self.client,
            "workspace": self.workspace,
            "action": self.action,
            "tier": self.tier,
            "reason": self.reason,
            "status": self.status,
            "backend": self.backend,
            "model": self.model,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "tokens_estimated": self.tokens_estimated,
            "cost_usd": self.cost_usd,
            "top_tier_cost_usd": self.top_tier_cost_usd,
            "saved_usd": self.saved_usd,
            "latency_s": self.latency_s,
            "first_token_s": self.first_token_s,
            "fallback": self.fallback,
            "redactions": self.redactions,
            "error": self.error,
            "tier_override": self.tier_override,
            "redo_of": self.redo_of,
            "escalation": self.escalation,
            "check_failed": self.check_failed,
            "check_detail": self.check_detail,
            "key": self.key,
            "attempts": [
                {
                    "backend": a.backend,
                    "model": a.model,
                    "outcome": a.outcome,
                    "error": a.error,
                    "elapsed_s": a.elapsed_s,
                }
                for a in self.attempts
            ],
        }


def default_path() -> Path:
    """The default ledger: a SQLite file in the data directory."""
    return data_dir() / LEDGER_FILENAME


def ledger_target(rules: Rules | None = None, explicit: str | None = None) -> str | Path:
    """Which ledger to use: `explicit` (a --ledger argument), then $MODELROUTER_LEDGER_URL,
    then the rules' `ledger:`, then the default SQLite file."""
    for candidate in (explicit, os.environ.get(LEDGER_URL_ENV)):
        if candidate:
            return candidate if is_url(candidate) else Path(candidate).expanduser()
    if rules is not None and rules.ledger:
        if is_url(rules.ledger):
            return rules.ledger
        path = Path(rules.ledger).expanduser()
        # A relative path in a rules file means next to that file, not the current directory.
        return path if path.is_absolute() or not rules.source else Path(rules.source).parent / path
    return default_path()


def open_ledger(rules: Rules | None = None, explicit: str | None = None) -> Ledger:
    """The ledger the rules and environment select (see `ledger_target`)."""
    return Ledger(ledger_target(rules, explicit))


def read_entries(target: str | os.PathLike[str], since: float | None = None) -> list[RequestRecord]:
    """Entries since `since` in the ledger at `target`, oldest first; raises LedgerError.

    Reading must not create a SQLite file: a fresh install simply has no requests.
    """
    ledger = Ledger(target)
    try:
        return ledger.entries(since=since) if ledger.exists() else []
    finally:
        ledger.close()


# -- building entries from engine results -----------------------------------------------------


def build_entry(
    job: Job,
    *,
    outcome: Outcome | None = None,
    attempts: Iterable[Attempt] = (),
    status: str = "failed",
    error: str | None = None,
    skipped: Iterable[Skip] = (),
    chain: Sequence[str] = (),
    keys: Sequence[str] = (),
) -> RequestRecord:
    """A ledger entry for an engine `Job` and its `Outcome` (or its failure).

    `outcome` is the engine's Outcome when a backend answered (its prices come from the
    rules); otherwise pass the failed `attempts`, `status` ("failed" or "cancelled") and
    `error`. `skipped` are the plan's skips (budget, cooldown, missing key): they are kept as
    "skipped" attempts so the hover and reports can say why the primary did not answer;
    `chain` (the tier's backends in order) tells which of them the answer fell back past.
    Labels for learned routing come from the job's `tier_override` / `redo_of`; only then is
    the request text stored: the first user turn (a redo's transcript starts with the request
    it redoes), cut to PROMPT_MAX_CHARS.
    """
    skips = [AttemptRecord(backend=s.backend, outcome="skipped", error=s.reason) for s in skipped]
    tried = [
        AttemptRecord(a.backend, a.model or "", a.outcome, a.error, float(a.elapsed_s))
        for a in (outcome.attempts if outcome is not None else attempts)
    ]
    rank = {name: i for i, name in enumerate(chain)}
    last = rank.get(tried[-1].backend, len(chain)) if tried else -1
    # A fallback: another backend was tried first, or one ahead of the answer was skipped.
    fallback = len(tried) > 1 or any(rank.get(s.backend, -1) < last for s in skips)
    labelled = bool(job.tier_override or job.redo_of)
    prompt = _first_user_text(job) if labelled else None
    if prompt:
        # The text would go to disk: a request holding a secret (in the attached code, in its
        # words, or a configured API key) is not stored at all; masking may miss a piece.
        from modelrouter.redact import scan

        if scan(prompt, known=[k for k in keys if k]):
            prompt = None
    entry = RequestRecord(
        tier=job.tier,
        source=job.source,
        client=job.client,
        workspace=job.workspace,
        action=job.action,
        reason=job.reason,
        attempts=skips + tried,
        fallback=fallback,
        tier_override=job.tier_override,
        redo_of=job.redo_of,
        escalation=check_text(job.escalation, keys) if job.escalation else None,
        prompt=prompt[:PROMPT_MAX_CHARS] if prompt else None,
        key=job.key,
    )
    if outcome is None:
        entry.status = status
        entry.error = error
        entry.latency_s = sum(a.elapsed_s for a in tried) or None
        return entry
    usage = outcome.usage
    entry.tier = outcome.tier
    entry.reason = outcome.reason or job.reason
    entry.backend = outcome.backend
    entry.model = outcome.model
    entry.input_tokens = usage.input_tokens
    entry.output_tokens = usage.output_tokens
    entry.tokens_estimated = usage.estimated
    entry.cost_usd = outcome.cost_usd
    entry.top_tier_cost_usd = outcome.top_tier_cost_usd
    entry.latency_s = outcome.latency_s
    entry.first_token_s = outcome.first_token_s
    entry.redactions = outcome.redactions
    return entry


def check_text(text: str, keys: Sequence[str] = ()) -> str:
    """A check's words as stored: secrets masked (a tool's output may quote the code), cut
    to CHECK_MAX_CHARS, without NUL (PostgreSQL refuses it in text: the row would never be
    written)."""
    from modelrouter.redact import scrub

    text = text[: CHECK_MAX_CHARS * 2].replace("\x00", "")
    return scrub(text, known=keys)[:CHECK_MAX_CHARS]


@dataclass
class CheckRecord:
    """A failed check on a recorded answer: written after the answer's row, in order.

    The row is found by `uid` when known (its id may not be, while the database is busy),
    else by `entry_id`.
    """

    entry_id: int | None
    check: str
    detail: str
    uid: str | None = None


def _first_user_text(job: Job) -> str | None:
    for m in job.messages:
        if m.role == "user":
            return m.content
    return None


# -- the ledger -------------------------------------------------------------------------------

_INSERT_REQUEST = (
    "INSERT INTO requests (ts, source, workspace, action, tier, reason, status,"
    " backend, model, input_tokens, output_tokens, tokens_estimated, cost_usd,"
    " top_tier_cost_usd, latency_s, first_token_s, fallback, redactions, error,"
    " tier_override, redo_of, prompt, uid, key_name, client, escalation, check_failed,"
    " check_detail)"
    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
    " ON CONFLICT (uid) DO NOTHING"
)


class Ledger:
    """The ledger at a SQLite path or a PostgreSQL URL. Thread-safe.

    Connections open lazily: one for the writer thread, one for reads, one for the short
    transactions of budgets, keys and cooldowns (`transaction()`, run in `call()`'s thread).
    """

    def __init__(
        self,
        target: str | os.PathLike[str] | None = None,
        *,
        queue_limit: int | None = None,
    ) -> None:
        self.db: Database = open_database(target if target is not None else default_path())
        # The SQLite file, or None for a PostgreSQL ledger.
        self.path: Path | None = self.db.path if isinstance(self.db, SQLiteDatabase) else None
        self.queue_limit = QUEUE_LIMIT if queue_limit is None else queue_limit
        self._write_lock = threading.Lock()
        self._read_lock = threading.Lock()
        self._ops_lock = threading.Lock()
        self._writer: Connection | None = None
        self._reader: Connection | None = None
        self._ops: Connection | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._ops_executor: ThreadPoolExecutor | None = None
        self._ops_down_until = 0.0  # monotonic: the operations connection failed just now
        self._listeners: list[Callable[[RequestRecord], None]] = []
        self._warned: set[str] = set()
        # Rows waiting for the database: requests, and checks on them (in order).
        self._queue: collections.deque[RequestRecord | CheckRecord] = collections.deque()
        self._retry_at = 0.0  # no retry of the queue before this (monotonic)
        self._retrier: threading.Thread | None = None
        self._closed = threading.Event()
        self._dropped = 0  # rows dropped past the queue bound, not yet reported to the db
        self._dropped_since: float | None = None
        self._dropped_total = 0
        self.last_error: str | None = None  # why the last row was not stored at once
        self.last_ops_error: str | None = None

    @property
    def location(self) -> str:
        """Where the ledger is, for messages (a URL's password masked)."""
        return str(self.db)

    @property
    def kind(self) -> str:
        """ "sqlite" or "postgresql"."""
        return self.db.kind

    def exists(self) -> bool:
        """Whether there is anything to read (a SQLite ledger not created yet: no)."""
        return self.db.exists()

    # connections

    def _connect(self) -> Connection:
        try:
            return self.db.connect()
        except LedgerError:
            raise
        except self.db.errors as exc:
            raise LedgerError(self.db.describe(exc)) from exc

    def close(self) -> None:
        """Finish pending writes, try the queue once more, and close the connections.

        Rows still queued (the database is down) are reported as lost in the log.
        """
        self._closed.set()
        with self._write_lock:
            executor, self._executor = self._executor, None
            ops, self._ops_executor = self._ops_executor, None
        for pool in (executor, ops):
            if pool is not None:
                pool.shutdown(wait=True)
        with self._write_lock:
            if self._queue:
                self._retry_at = 0.0
                self._drain()
            if self._queue or self._dropped:
                log.error(
                    "ledger %s unreachable at exit: %d request(s) not recorded (%s)",
                    self.location,
                    len(self._queue) + self._dropped,
                    self.last_error,
                )
            self._writer = _closed(self._writer)
        with self._read_lock:
            self._reader = _closed(self._reader)
        with self._ops_lock:
            self._ops = _closed(self._ops)
        self._closed.clear()  # a closed ledger reopens on next use

    # writing

    def subscribe(self, listener: Callable[[RequestRecord], None]) -> None:
        """Call `listener(entry)` after every record(), stored or not (budgets count it)."""
        self._listeners.append(listener)

    @property
    def queued(self) -> int:
        """Rows waiting for the database to come back."""
        return len(self._queue)

    @property
    def dropped(self) -> int:
        """Rows this process dropped because the queue was full (never silently)."""
        return self._dropped_total

    def record(self, entry: RequestRecord) -> int | None:
        """Store `entry` and return its id; when the database cannot take it now, queue it
        (see the module docstring) and return None. Never raises."""
        entry_id = self._write(entry)
        for listener in self._listeners:
            try:
                listener(entry)
            except Exception:  # a listener must never cost the caller its result
                log.exception("ledger listener failed")
        return entry_id

    def record_check(self, check: CheckRecord) -> None:
        """Store that an answer failed a check (queued like a request when the database
        cannot take it now). Never raises."""
        self._write(check)

    def _write(self, row: RequestRecord | CheckRecord) -> int | None:
        with self._write_lock:
            self._drain()
            if self._queue:
                self._enqueue(row)  # keep the order: older rows first
                return None
            try:
                return self._store_row(row)
            except LedgerError as exc:
                self._failed(exc)
                self._enqueue(row)
                return None

    def submit(self, entry: RequestRecord) -> Future[int | None]:
        """Record `entry` in the ledger's writer thread and return at once.

        The future's result is the entry id (None when queued); it never raises.
        Writes keep their order, and pending ones finish before the interpreter exits.
        """
        return self._writer_thread().submit(self.record, entry)

    def submit_check(
        self, entry_id: int | None, check: str, detail: str, *, uid: str | None = None
    ) -> None:
        """Record, in the writer thread, that entry `entry_id`'s answer failed `check`.

        Returns at once and never raises; a no-op without an id. `uid` (the entry's own id,
        `RequestRecord.uid`) finds the row even when its ledger id is not known yet: the
        check is written after the row, as writes keep their order.
        """
        if entry_id is None and uid is None:
            return
        row = CheckRecord(entry_id, check_text(check), check_text(detail), uid)
        self._writer_thread().submit(self.record_check, row)

    def _writer_thread(self) -> ThreadPoolExecutor:
        with self._write_lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(1, thread_name_prefix="modelrouter-ledger")
            return self._executor

    # The async facade for event loops (the language server, the proxy): writes go to the
    # writer thread, reads to a worker thread, so a locked database (another process holding
    # it for up to BUSY_TIMEOUT_S) delays the bookkeeping, never the loop.

    async def arecord(self, entry: RequestRecord) -> int | None:
        """`record()` off the event loop: a busy database never stalls the editor."""
        return await asyncio.wrap_future(self.submit(entry))

    async def aentries(
        self, since: float | None = None, until: float | None = None
    ) -> list[RequestRecord]:
        """`entries()` off the event loop; raises LedgerError."""
        return await asyncio.to_thread(self.entries, since, until)

    async def aspend_since(self, since: float) -> float:
        """`spend_since()` off the event loop; raises LedgerError."""
        return await asyncio.to_thread(self.spend_since, since)

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait for pending writes and retry the queue until it is empty or `timeout` passes.

        True when every row is in the database.
        """
        with self._write_lock:
            executor = self._executor
        if executor is not None:
            executor.submit(lambda: None).result(timeout)
        deadline = time.monotonic() + timeout
        while True:
            with self._write_lock:
                self._retry_at = 0.0
                self._drain()
                if not self._queue and not self._dropped:
                    return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(min(RETRY_S / 4, max(0.0, deadline - time.monotonic())))

    def _store_row(self, row: RequestRecord | CheckRecord) -> int | None:
        """Write one queued row (caller holds the write lock): a request's id, or None for
        a check; raises LedgerError."""
        if isinstance(row, CheckRecord):
            self._store_check(row)
            return None
        return self._store(row)

    def _store(self, e: RequestRecord) -> int:
        """Insert one request with its attempts and settle its reservations (caller holds
        the write lock); raises LedgerError."""
        try:
            if self._writer is None:
                self._writer = self._connect()
            conn = self._writer
            with conn.write():
                request_id = conn.insert(_INSERT_REQUEST, _request_params(e))
                if request_id is None:  # stored already: its first write went through
                    row = conn.one("SELECT id FROM requests WHERE uid = ?", (e.uid,))
                    request_id = int(row["id"])
                else:
                    conn.many(
                        "INSERT INTO attempts (request_id, seq, ts, backend, model, outcome,"
                        " error, elapsed_s) VALUES (?,?,?,?,?,?,?,?)",
                        [
                            (
                                request_id,
                                i,
                                e.ts,
                                a.backend,
                                a.model,
                                a.outcome,
                                a.error,
                                a.elapsed_s,
                            )
                            for i, a in enumerate(e.attempts)
                        ],
                    )
                if e.reservations:
                    # The real cost is in the row now: the hold goes in the same commit.
                    marks = ",".join("?" * len(e.reservations))
                    conn.run(f"DELETE FROM reservations WHERE id IN ({marks})", e.reservations)
        except LedgerError:
            self._writer = _closed(self._writer)
            raise
        except self.db.errors as exc:
            if self.db.lost(exc):
                self._writer = _closed(self._writer)
            raise LedgerError(self.db.describe(exc)) from exc
        e.id = request_id
        self.last_error = None
        return request_id

    def _store_check(self, c: CheckRecord) -> None:
        where, key = ("uid", c.uid) if c.uid is not None else ("id", c.entry_id)
        try:
            if self._writer is None:
                self._writer = self._connect()
            with self._writer.write() as conn:
                # No row (it was dropped past a full queue): nothing to mark, nothing to fail.
                conn.run(
                    f"UPDATE requests SET check_failed = ?, check_detail = ? WHERE {where} = ?",
                    (c.check, c.detail, key),
                )
        except LedgerError:
            self._writer = _closed(self._writer)
            raise
        except self.db.errors as exc:
            if self.db.lost(exc):
                self._writer = _closed(self._writer)
            raise LedgerError(self.db.describe(exc)) from exc
        self.last_error = None

    def _failed(self, exc: LedgerError) -> None:
        self.last_error = str(exc)
        self._retry_at = time.monotonic() + RETRY_S
        self._warn(self.last_error)

    def _enqueue(self, entry: RequestRecord | CheckRecord) -> None:
        if len(self._queue) >= self.queue_limit and isinstance(entry, CheckRecord):
            # Not a request: the `dropped` count (requests answered, not recorded) stays true.
            log.error(
                "ledger %s unreachable and its queue is full: check %r on an answer dropped",
                self.location,
                entry.check,
            )
        elif len(self._queue) >= self.queue_limit:
            if not self._dropped:
                self._dropped_since = entry.ts
            self._dropped += 1
            self._dropped_total += 1
            if self._dropped_total == 1 or self._dropped_total % 1000 == 0:
                log.error(
                    "ledger %s unreachable and its queue is full (%d rows): %d request(s) "
                    "dropped so far; they will be reported as not recorded",
                    self.location,
                    self.queue_limit,
                    self._dropped_total,
                )
        else:
            self._queue.append(entry)
        self._start_retrier()

    def _drain(self) -> None:
        """Write queued rows, oldest first, while the database takes them (caller holds the
        write lock). Only one try per RETRY_S after a failure."""
        if (not self._queue and not self._dropped) or time.monotonic() < self._retry_at:
            return
        while self._queue:
            try:
                self._store_row(self._queue[0])
            except LedgerError as exc:
                self._failed(exc)
                return
            self._queue.popleft()
        if self._dropped:
            try:
                self._report_dropped()
            except LedgerError as exc:
                self._failed(exc)
                return
        log.warning("ledger %s is back: every queued request is recorded", self.location)

    def _report_dropped(self) -> None:
        assert self._writer is not None
        try:
            with self._writer.write() as conn:
                conn.run(
                    "INSERT INTO dropped (ts, host, pid, rows_dropped, first_ts)"
                    " VALUES (?,?,?,?,?)",
                    (
                        time.time(),
                        socket.gethostname(),
                        os.getpid(),
                        self._dropped,
                        self._dropped_since,
                    ),
                )
        except self.db.errors as exc:
            self._writer = _closed(self._writer)
            raise LedgerError(self.db.describe(exc)) from exc
        self._dropped, self._dropped_since = 0, None

    def _start_retrier(self) -> None:
        # A thread retries the queue while it is not empty, so rows arrive even when no
        # new request comes to trigger a write.
        if self._retrier is not None and self._retrier.is_alive():
            return
        self._retrier = threading.Thread(
            target=self._retry_loop, name="modelrouter-ledger-retry", daemon=True
        )
        self._retrier.start()

    def _retry_loop(self) -> None:
        while not self._closed.wait(RETRY_S):
            with self._write_lock:
                self._drain()
                if not self._queue and not self._dropped:
                    return

    def _warn(self, message: str) -> None:
        if message not in self._warned:  # once per distinct problem, not on every request
            self._warned.add(message)
            log.warning("request not recorded in the ledger yet (queued): %s", message)

    # short transactions for budgets, keys and cooldowns

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A write transaction on the ledger's operations connection; blocks, so run it in
        `call()` (or a CLI). Database errors surface as LedgerError."""
        with self._ops_lock:
            if self._ops is None and time.monotonic() < self._ops_down_until:
                # Down a moment ago: answer at once rather than wait on another connect.
                raise LedgerError(self.last_ops_error or f"{self.location} unreachable")
            fresh = self._ops is None
            try:
                if self._ops is None:
                    self._ops = self._connect()
                with self._ops.write() as conn:
                    yield conn
            except LedgerError as exc:
                self._ops_lost(str(exc), fresh)
                raise
            except self.db.errors as exc:
                message = self.db.describe(exc)
                if self.db.lost(exc):
                    self._ops_lost(message, fresh)
                raise LedgerError(message) from exc

    def _ops_lost(self, message: str, fresh: bool) -> None:
        # A connection that worked before may just be stale (the server restarted): the
        # next transaction reconnects at once. One that could not be opened waits RETRY_S.
        self._ops = _closed(self._ops)
        if fresh:
            self._ops_down_until = time.monotonic() + RETRY_S
        self.last_ops_error = message

    def call(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        """Run `fn(*args)` in the ledger's operations thread (one at a time, in order)."""
        with self._write_lock:
            if self._ops_executor is None:
                self._ops_executor = ThreadPoolExecutor(
                    1, thread_name_prefix="modelrouter-ledger-ops"
                )
            pool = self._ops_executor
        return pool.submit(fn, *args)

    # reading

    def _read(self, fn: Callable[[Connection], T]) -> T:
        """`fn(reader connection)` under the read lock. A connection lost since its last use
        (the server restarted) is replaced once; other database errors drop it (the next
        read reopens) and surface as a LedgerError."""
        with self._read_lock:
            for attempt in (1, 2):
                fresh = self._reader is None
                try:
                    if self._reader is None:
                        self._reader = self._connect()
                    return fn(self._reader)
                except LedgerError:
                    self._reader = _closed(self._reader)
                    raise
                except self.db.errors as exc:
                    self._reader = _closed(self._reader)
                    if fresh or attempt == 2 or not self.db.lost(exc):
                        raise LedgerError(self.db.describe(exc)) from exc
        raise AssertionError("unreachable")

    def query(self, sql: str, params: Iterable[Any] = ()) -> list[Row]:
        """Rows of one read query (SQLite's `?` placeholders on either database)."""
        values = tuple(params)
        return self._read(lambda conn: conn.rows(sql, values))

    def _reset_reader(self) -> None:
        with self._read_lock:
            self._reader = _closed(self._reader)

    def entries(
        self, since: float | None = None, until: float | None = None
    ) -> list[RequestRecord]:
        """Entries with `since <= ts < until`, oldest first, attempts included."""
        lo = since if since is not None else float("-inf")
        hi = until if until is not None else float("inf")

        def read(conn: Connection) -> tuple[list[Row], dict[int, list[AttemptRecord]]]:
            with conn.snapshot():
                rows = conn.rows(
                    "SELECT * FROM requests WHERE ts >= ? AND ts < ? ORDER BY ts, id", (lo, hi)
                )
                attempts: dict[int, list[AttemptRecord]] = {}
                if rows:
                    for a in conn.rows(
                        "SELECT a.request_id, a.backend, a.model, a.outcome, a.error,"
                        " a.elapsed_s FROM attempts a JOIN requests r ON r.id = a.request_id"
                        " WHERE r.ts >= ? AND r.ts < ? ORDER BY a.request_id, a.seq",
                        (lo, hi),
                    ):
                        attempts.setdefault(a["request_id"], []).append(_attempt(a))
            return rows, attempts

        rows, attempts = self._read(read)
        return [_entry(r, attempts.get(r["id"], [])) for r in rows]

    def entry(self, entry_id: int) -> RequestRecord | None:
        """One entry by id, or None."""
        rows = self.query("SELECT * FROM requests WHERE id = ?", (entry_id,))
        if not rows:
            return None
        attempts = self.query(
            "SELECT request_id, backend, model, outcome, error, elapsed_s FROM attempts"
            " WHERE request_id = ? ORDER BY seq",
            (entry_id,),
        )
        return _entry(rows[0], [_attempt(a) for a in attempts])

    def spend_since(self, since: float) -> float:
        """Total spend of requests since `since` (one indexed query: cheap enough per status)."""
        rows = self.query("SELECT SUM(cost_usd) AS spend FROM requests WHERE ts >= ?", (since,))
        return float(rows[0]["spend"] or 0)

    def count(self) -> int:
        """How many requests are recorded."""
        return int(self.query("SELECT COUNT(*) AS n FROM requests")[0]["n"])

    def dropped_since(self, since: float | None = None) -> int:
        """Requests that were never recorded (dropped past a full queue) since `since`."""
        rows = self.query(
            "SELECT SUM(rows_dropped) AS n FROM dropped WHERE ts >= ?",
            (since if since is not None else float("-inf"),),
        )
        return int(rows[0]["n"] or 0)

    def labels(self) -> list[tuple[str, str, str]]:
        """Routing labels from history: (request text, tier it needed, source).

        source is "override" (the user picked the tier explicitly) or "redo" (the user asked
        for a stronger model; the tier is the one the redo ran on). Only requests that
        succeeded count: a failed redo says nothing about the tier the text needs.
        """
        rows = self.query(
            "SELECT prompt, COALESCE(tier_override, tier) AS tier,"
            " CASE WHEN redo_of IS NOT NULL THEN 'redo' ELSE 'override' END AS source"
            " FROM requests WHERE prompt IS NOT NULL AND status = 'ok'"
            " AND (tier_override IS NOT NULL OR redo_of IS NOT NULL) ORDER BY id"
        )
        return [(r["prompt"], r["tier"], r["source"]) for r in rows]

    def budget_usage(self, windows: dict[str, BudgetWindow]) -> tuple[int, dict[str, BudgetUsage]]:
        """What each backend used in its budget windows, read as one consistent snapshot.

        Returns the highest request id the snapshot covers (so callers can tell which
        requests they noted themselves are already in it) and, per backend, its spend since
        `window.spend_since`, spend and tokens since `window.day`, and the times of its most
        recent `window.max_calls` calls since `window.hour` (failed calls count; skips not).
        Each query walks the (backend, ts) indexes, so the cost follows the windows, not the
        size of the ledger.
        """

        def read(conn: Connection) -> tuple[int, dict[str, BudgetUsage]]:
            out: dict[str, BudgetUsage] = {}
            with conn.snapshot():
                top = conn.one("SELECT COALESCE(MAX(id), 0) AS top FROM requests")["top"]
                for name, w in windows.items():
                    row = conn.one(
                        "SELECT SUM(cost_usd) AS spend,"
                        " SUM(CASE WHEN ts >= ? THEN cost_usd ELSE 0 END) AS day_spend,"
                        " SUM(CASE WHEN ts >= ? THEN input_tokens + output_tokens ELSE 0 END)"
                        " AS day_tokens"
                        " FROM requests WHERE backend = ? AND ts >= ?",
                        (w.day, w.day, name, min(w.spend_since, w.day)),
                    )
                    calls = conn.rows(
                        "SELECT ts FROM attempts WHERE backend = ? AND ts >= ?"
                        " AND outcome != 'skipped' ORDER BY ts DESC LIMIT ?",
                        (name, w.hour, w.max_calls),
                    )
                    out[name] = BudgetUsage(
                        spend=float(row["spend"] or 0),
                        day_spend=float(row["day_spend"] or 0),
                        day_tokens=int(row["day_tokens"] or 0),
                        calls=sorted(float(c["ts"]) for c in calls),
                    )
            return int(top), out

        return self._read(read)


def _closed(conn: Connection | None) -> None:
    if conn is not None:
        conn.close()


def _request_params(e: RequestRecord) -> tuple[Any, ...]:
    labelled = bool(e.tier_override or e.redo_of)
    return (
        e.ts,
        e.source,
        e.workspace,
        e.action,
        e.tier,
        e.reason,
        e.status,
        e.backend,
        e.model,
        e.input_tokens,
        e.output_tokens,
        int(e.tokens_estimated),
        e.cost_usd,
        e.top_tier_cost_usd,
        e.latency_s,
        e.first_token_s,
        int(e.fallback),
        e.redactions,
        e.error,
        e.tier_override,
        e.redo_of,
        e.prompt if labelled else None,
        e.uid,
        e.key,
        e.client,
        e.escalation,
        e.check_failed,
        e.check_detail,
    )


@dataclass(frozen=True)
class BudgetWindow:
    """The periods one backend's budget looks at (unix times)."""

    spend_since: float  # start of the month when a monthly budget is set, else of the day
    day: float
    hour: float
    max_calls: int = 0  # recent call times wanted (the hourly request limit)


@dataclass
class BudgetUsage:
    """What one backend used in its budget windows."""

    spend: float = 0.0  # since BudgetWindow.spend_since
    day_spend: float = 0.0
    day_tokens: int = 0
    calls: list[float] = field(default_factory=list)  # sorted call times in the last hour


def _attempt(row: Row) -> AttemptRecord:
    return AttemptRecord(
        backend=row["backend"],
        model=row["model"],
        outcome=row["outcome"],
        error=row["error"],
        elapsed_s=row["elapsed_s"],
    )


def _entry(row: Row, attempts: list[AttemptRecord]) -> RequestRecord:
    return RequestRecord(
        id=row["id"],
        ts=row["ts"],
        source=row["source"],
        client=row["client"],
        workspace=row["workspace"],
        action=row["action"],
        tier=row["tier"],
        reason=row["reason"],
        status=row["status"],
        backend=row["backend"],
        model=row["model"],
        input_tokens=row["input_tokens"],
        output_tokens=row["output_tokens"],
        tokens_estimated=bool(row["tokens_estimated"]),
        cost_usd=row["cost_usd"],
        top_tier_cost_usd=row["top_tier_cost_usd"],
        latency_s=row["latency_s"],
        first_token_s=row["first_token_s"],
        fallback=bool(row["fallback"]),
        redactions=row["redactions"],
        error=row["error"],
        tier_override=row["tier_override"],
        redo_of=row["redo_of"],
        escalation=row["escalation"],
        check_failed=row["check_failed"],
        check_detail=row["check_detail"],
        prompt=row["prompt"],
        key=row["key_name"],
        uid=row["uid"] or "",
        attempts=attempts,
    )
