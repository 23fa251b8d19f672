"""The ledger: every request, what answered it, what it cost and what it saved, in SQLite.

One database file per user (``$MODELROUTER_DATA_DIR`` or platformdirs' user data dir), shared
by the language server and every ``modelrouter`` command running at the same time: WAL mode,
a busy timeout and ``BEGIN IMMEDIATE`` write transactions make concurrent writers safe.

Recording is best effort by design. A locked, corrupt or too-new database turns into a
warning and "not recorded" — never into an exception that would cost the user an edit.
Reading (``modelrouter stats``/``report``) raises :class:`LedgerError` with a clear message.

Privacy: the request text is not stored, except for requests that carry a routing label —
an explicit tier override or a "redo with a stronger model" — whose text is what
``modelrouter train --from-history`` learns from (see :meth:`Ledger.labels`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelrouter.errors import LedgerError
from modelrouter.paths import data_dir

if TYPE_CHECKING:  # the engine imports this module; these are for annotations only
    from modelrouter.engine import Attempt, Job, Outcome
    from modelrouter.routing.plan import Skip

log = logging.getLogger(__name__)

LEDGER_FILENAME = "ledger.sqlite3"
BUSY_TIMEOUT_S = 5.0
PROMPT_MAX_CHARS = 8000  # label texts are instructions, not whole files

# Each entry upgrades the schema by one version (PRAGMA user_version). Never edit a released
# entry: append a new one.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE requests (
        id INTEGER PRIMARY KEY,
        ts REAL NOT NULL,                 -- unix time the request finished
        source TEXT NOT NULL,             -- lsp | ask
        workspace TEXT,
        action TEXT,
        tier TEXT NOT NULL,
        reason TEXT NOT NULL DEFAULT '',
        status TEXT NOT NULL,             -- ok | failed | cancelled
        backend TEXT,                     -- the backend that answered
        model TEXT,
        input_tokens INTEGER NOT NULL DEFAULT 0,
        output_tokens INTEGER NOT NULL DEFAULT 0,
        tokens_estimated INTEGER NOT NULL DEFAULT 0,
        cost_usd REAL NOT NULL DEFAULT 0,
        top_tier_cost_usd REAL NOT NULL DEFAULT 0,
        latency_s REAL,
        first_token_s REAL,
        fallback INTEGER NOT NULL DEFAULT 0,
        redactions INTEGER NOT NULL DEFAULT 0,
        error TEXT,
        tier_override TEXT,               -- label: the tier the user asked for explicitly
        redo_of INTEGER,                  -- label: the entry this request redid one tier up
        prompt TEXT                       -- stored only for labelled requests
    );
    CREATE INDEX requests_ts ON requests(ts);
    CREATE INDEX requests_backend_ts ON requests(backend, ts);
    CREATE TABLE attempts (
        id INTEGER PRIMARY KEY,
        request_id INTEGER NOT NULL REFERENCES requests(id) ON DELETE CASCADE,
        seq INTEGER NOT NULL,
        ts REAL NOT NULL,
        backend TEXT NOT NULL,
        model TEXT NOT NULL DEFAULT '',
        outcome TEXT NOT NULL,            -- ok | skipped | an error kind
        error TEXT,
        elapsed_s REAL NOT NULL DEFAULT 0
    );
    CREATE INDEX attempts_request ON attempts(request_id);
    CREATE INDEX attempts_backend_ts ON attempts(backend, ts);
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)


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
    prompt: str | None = None
    ts: float = field(default_factory=time.time)
    id: int | None = None

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
    """The ledger database file."""
    return data_dir() / LEDGER_FILENAME


def read_entries(path: str | os.PathLike[str], since: float | None = None) -> list[RequestRecord]:
    """Entries since `since` in the ledger at `path`, oldest first; raises LedgerError.

    Reading must not create the database: a fresh install simply has no requests.
    """
    ledger = Ledger(path)
    try:
        return ledger.entries(since=since) if ledger.path.exists() else []
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
        # The text goes to disk: secrets in the attached code and the configured API `keys`
        # are masked first (routing learns from the words, not the values).
        from modelrouter.redact import Redactor

        prompt = Redactor(known=tuple(keys)).redact(prompt)
    entry = RequestRecord(
        tier=job.tier,
        source=job.source,
        workspace=job.workspace,
        action=job.action,
        reason=job.reason,
        attempts=skips + tried,
        fallback=fallback,
        tier_override=job.tier_override,
        redo_of=job.redo_of,
        prompt=prompt[:PROMPT_MAX_CHARS] if prompt else None,
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


def _first_user_text(job: Job) -> str | None:
    for m in job.messages:
        if m.role == "user":
            return m.content
    return None


# -- the ledger -------------------------------------------------------------------------------


class Ledger:
    """The SQLite ledger. Thread-safe; one writer and one reader connection, opened lazily."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path) if path is not None else default_path()
        self._write_lock = threading.Lock()
        self._read_lock = threading.Lock()
        self._writer: sqlite3.Connection | None = None
        self._reader: sqlite3.Connection | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._listeners: list[Callable[[RequestRecord], None]] = []
        self._warned: set[str] = set()
        self.last_error: str | None = None  # why the last record() was not stored

    # connections

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(
            self.path,
            timeout=BUSY_TIMEOUT_S,
            isolation_level=None,  # explicit BEGIN IMMEDIATE below
            check_same_thread=False,  # guarded by our locks; writes run in worker threads
        )
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            conn.execute("PRAGMA foreign_keys = ON")
            if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                conn.execute("PRAGMA journal_mode = WAL")
            # WAL + NORMAL: a commit is a write to the WAL, fsync only at checkpoints.
            conn.execute("PRAGMA synchronous = NORMAL")
            self._migrate(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    def _migrate(self, conn: sqlite3.Connection) -> None:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise LedgerError(
                f"{self.path} has schema version {version}, newer than this ModelRouter "
                f"understands ({SCHEMA_VERSION}); upgrade ModelRouter to use it"
            )
        if version == SCHEMA_VERSION:
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Re-read inside the write lock: another process may have migrated meanwhile.
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            for number in range(version, SCHEMA_VERSION):
                for statement in _statements(MIGRATIONS[number]):
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {number + 1}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def _writer_conn(self) -> sqlite3.Connection:
        if self._writer is None:
            self._writer = self._connect()
        return self._writer

    def _reader_conn(self) -> sqlite3.Connection:
        if self._reader is None:
            self._reader = self._connect()
            self._reader.row_factory = sqlite3.Row
        return self._reader

    def close(self) -> None:
        """Finish pending writes and close the connections (they reopen on next use)."""
        with self._write_lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True)
        with self._write_lock:
            if self._writer is not None:
                self._writer.close()
                self._writer = None
        with self._read_lock:
            if self._reader is not None:
                self._reader.close()
                self._reader = None

    # writing

    def subscribe(self, listener: Callable[[RequestRecord], None]) -> None:
        """Call `listener(entry)` after every record(), stored or not (budgets count it)."""
        self._listeners.append(listener)

    def record(self, entry: RequestRecord) -> int | None:
        """Store `entry` and return its id; on any database problem warn and return None."""
        entry_id: int | None = None
        try:
            with self._write_lock:
                entry_id = self._insert(self._writer_conn(), entry)
            entry.id = entry_id
            self.last_error = None
        except (sqlite3.Error, LedgerError, OSError) as exc:
            self._drop_writer()
            self.last_error = _describe(exc, self.path)
            self._warn(self.last_error)
        for listener in self._listeners:
            try:
                listener(entry)
            except Exception:  # a listener must never cost the caller its result
                log.exception("ledger listener failed")
        return entry_id

    def submit(self, entry: RequestRecord) -> Future[int | None]:
        """Record `entry` in the ledger's writer thread and return at once.

        The future's result is the entry id (None when not recorded); it never raises.
        Writes keep their order, and pending ones finish before the interpreter exits.
        """
        with self._write_lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(1, thread_name_prefix="modelrouter-ledger")
            executor = self._executor
        return executor.submit(self.record, entry)

    async def arecord(self, entry: RequestRecord) -> int | None:
        """`record()` off the event loop: a busy database never stalls the editor."""
        return await asyncio.wrap_future(self.submit(entry))

    def _insert(self, conn: sqlite3.Connection, e: RequestRecord) -> int:
        conn.execute("BEGIN IMMEDIATE")
        try:
            cur = conn.execute(
                "INSERT INTO requests (ts, source, workspace, action, tier, reason, status,"
                " backend, model, input_tokens, output_tokens, tokens_estimated, cost_usd,"
                " top_tier_cost_usd, latency_s, first_token_s, fallback, redactions, error,"
                " tier_override, redo_of, prompt)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
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
                    e.prompt if (e.tier_override or e.redo_of) else None,
                ),
            )
            request_id = int(cur.lastrowid or 0)
            conn.executemany(
                "INSERT INTO attempts (request_id, seq, ts, backend, model, outcome, error,"
                " elapsed_s) VALUES (?,?,?,?,?,?,?,?)",
                [
                    (request_id, i, e.ts, a.backend, a.model, a.outcome, a.error, a.elapsed_s)
                    for i, a in enumerate(e.attempts)
                ],
            )
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return request_id

    def _drop_writer(self) -> None:
        # Reopen on the next record(): the file may have been replaced or unlocked by then.
        with self._write_lock:
            if self._writer is not None:
                with contextlib.suppress(sqlite3.Error):
                    self._writer.close()
                self._writer = None

    def _warn(self, message: str) -> None:
        if message not in self._warned:  # once per distinct problem, not on every request
            self._warned.add(message)
            log.warning("request not recorded in the ledger: %s", message)

    # reading

    @contextlib.contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        """The reader connection, held under its lock; a database error drops it (the next
        read reopens) and surfaces as a LedgerError."""
        try:
            with self._read_lock:
                yield self._reader_conn()
        except (sqlite3.Error, OSError) as exc:
            self._reset_reader()
            raise LedgerError(_describe(exc, self.path)) from exc

    def _query(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        with self._reading() as conn:
            return conn.execute(sql, tuple(params)).fetchall()

    def _reset_reader(self) -> None:
        with self._read_lock:
            if self._reader is not None:
                with contextlib.suppress(sqlite3.Error):
                    self._reader.close()
                self._reader = None

    def entries(
        self, since: float | None = None, until: float | None = None
    ) -> list[RequestRecord]:
        """Entries with `since <= ts < until`, oldest first, attempts included."""
        lo = since if since is not None else float("-inf")
        hi = until if until is not None else float("inf")
        rows = self._query(
            "SELECT * FROM requests WHERE ts >= ? AND ts < ? ORDER BY ts, id", (lo, hi)
        )
        attempts: dict[int, list[AttemptRecord]] = {}
        if rows:
            for a in self._query(
                "SELECT a.request_id, a.backend, a.model, a.outcome, a.error, a.elapsed_s"
                " FROM attempts a JOIN requests r ON r.id = a.request_id"
                " WHERE r.ts >= ? AND r.ts < ? ORDER BY a.request_id, a.seq",
                (lo, hi),
            ):
                attempts.setdefault(a["request_id"], []).append(_attempt(a))
        return [_entry(r, attempts.get(r["id"], [])) for r in rows]

    def entry(self, entry_id: int) -> RequestRecord | None:
        """One entry by id, or None."""
        rows = self._query("SELECT * FROM requests WHERE id = ?", (entry_id,))
        if not rows:
            return None
        attempts = self._query(
            "SELECT request_id, backend, model, outcome, error, elapsed_s FROM attempts"
            " WHERE request_id = ? ORDER BY seq",
            (entry_id,),
        )
        return _entry(rows[0], [_attempt(a) for a in attempts])

    def spend_since(self, since: float) -> float:
        """Total spend of requests since `since` (one indexed query: cheap enough per status)."""
        return float(
            self._query("SELECT SUM(cost_usd) FROM requests WHERE ts >= ?", (since,))[0][0] or 0
        )

    def count(self) -> int:
        """How many requests are recorded."""
        return int(self._query("SELECT COUNT(*) FROM requests")[0][0])

    def labels(self) -> list[tuple[str, str, str]]:
        """Routing labels from history: (request text, tier it needed, source).

        source is "override" (the user picked the tier explicitly) or "redo" (the user asked
        for a stronger model; the tier is the one the redo ran on). Only requests that
        succeeded count: a failed redo says nothing about the tier the text needs.
        """
        rows = self._query(
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
        out: dict[str, BudgetUsage] = {}
        with self._reading() as conn:
            conn.execute("BEGIN")  # one snapshot for every query below
            try:
                top = conn.execute("SELECT COALESCE(MAX(id), 0) FROM requests").fetchone()[0]
                for name, w in windows.items():
                    row = conn.execute(
                        "SELECT SUM(cost_usd),"
                        " SUM(CASE WHEN ts >= ? THEN cost_usd ELSE 0 END),"
                        " SUM(CASE WHEN ts >= ? THEN input_tokens + output_tokens ELSE 0 END)"
                        " FROM requests WHERE backend = ? AND ts >= ?",
                        (w.day, w.day, name, min(w.spend_since, w.day)),
                    ).fetchone()
                    calls = conn.execute(
                        "SELECT ts FROM attempts WHERE backend = ? AND ts >= ?"
                        " AND outcome != 'skipped' ORDER BY ts DESC LIMIT ?",
                        (name, w.hour, w.max_calls),
                    ).fetchall()
                    out[name] = BudgetUsage(
                        spend=float(row[0] or 0),
                        day_spend=float(row[1] or 0),
                        day_tokens=int(row[2] or 0),
                        calls=sorted(float(c[0]) for c in calls),
                    )
            finally:
                conn.execute("COMMIT")
        return int(top), out


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


def _statements(script: str) -> list[str]:
    # Split a migration into statements so it runs inside our own transaction
    # (executescript would COMMIT first).
    return [s.strip() for s in script.split(";") if s.strip()]


def _attempt(row: sqlite3.Row) -> AttemptRecord:
    return AttemptRecord(
        backend=row["backend"],
        model=row["model"],
        outcome=row["outcome"],
        error=row["error"],
        elapsed_s=row["elapsed_s"],
    )


def _entry(row: sqlite3.Row, attempts: list[AttemptRecord]) -> RequestRecord:
    return RequestRecord(
        id=row["id"],
        ts=row["ts"],
        source=row["source"],
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
        prompt=row["prompt"],
        attempts=attempts,
    )


def _describe(exc: BaseException, path: Path) -> str:
    text = str(exc)
    if isinstance(exc, LedgerError):
        return text
    lowered = text.lower()
    if "locked" in lowered or "busy" in lowered:
        return f"{path} is locked by another process ({text})"
    if "not a database" in lowered or "malformed" in lowered:
        return f"{path} is corrupt ({text}); move it aside to start a new ledger"
    return f"{path}: {text}"
