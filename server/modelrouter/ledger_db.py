"""The two databases a ledger can live in: a SQLite file (one user) or PostgreSQL (a team).

`open_database(target)` takes a file path or a `postgresql://` URL. Both give `Connection`s
with the same small surface — `rows`, `one`, `run`, `insert`, `write()` and `snapshot()`
transactions, `lock(scope)` — so the ledger, budgets, keys and shared cooldowns write their
SQL once, in SQLite's spelling (`?` placeholders), and it runs on both.

Concurrency: SQLite serialises writers with `BEGIN IMMEDIATE` (WAL mode, a busy timeout);
PostgreSQL takes transaction-scoped advisory locks (`lock(scope)`), so a budget check and
its reservation are one atomic step across processes and hosts. Migrations run under the
same kind of lock, so several processes starting at once upgrade the schema exactly once.

PostgreSQL support needs the `team` extra (psycopg 3); it is imported only for a URL.
"""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
import zlib
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from modelrouter.errors import LedgerError
from modelrouter.ledger_schema import MIGRATIONS, for_postgres, statements

BUSY_TIMEOUT_S = 5.0
CONNECT_TIMEOUT_S = 3  # a database that is down must not hold a request for long
STATEMENT_TIMEOUT_MS = 10_000
PG_SCHEMA = "modelrouter"  # our tables live in their own schema of the team's database
_MIGRATION_LOCK = "modelrouter:migrate"


Row = Any  # sqlite3.Row or a dict: both are read by column name


def is_url(target: str | os.PathLike[str]) -> bool:
    """Whether `target` names a PostgreSQL database rather than a SQLite file."""
    return str(target).startswith(("postgresql://", "postgres://"))


def redact_url(url: str) -> str:
    """The URL with its password masked, for messages and `stats` output."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    user = f"{parts.username}:***@" if parts.username else ":***@"
    return urlunsplit(parts._replace(netloc=user + host))


class Connection:
    """One database connection; not shared between threads without the caller's lock."""

    def __init__(self, raw: Any, db: Database) -> None:
        self.raw = raw
        self.db = db

    def _sql(self, sql: str) -> str:
        return self.db.sql(sql)

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return list(self.raw.execute(self._sql(sql), tuple(params)).fetchall())

    def one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        return self.raw.execute(self._sql(sql), tuple(params)).fetchone()

    def run(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Execute a statement; returns the number of rows it changed."""
        return int(self.raw.execute(self._sql(sql), tuple(params)).rowcount or 0)

    def many(self, sql: str, params: Iterable[Sequence[Any]]) -> None:
        batch = [tuple(p) for p in params]
        if batch:
            if self.db.kind == "sqlite":
                self.raw.executemany(self._sql(sql), batch)
            else:
                with self.raw.cursor() as cur:
                    cur.executemany(self._sql(sql), batch)

    def insert(self, sql: str, params: Sequence[Any] = ()) -> int | None:
        """Run an INSERT; the new row's id, or None when ON CONFLICT skipped it."""
        return self.db.insert(self, sql, params)

    @contextlib.contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction: committed on success, rolled back on any exception."""
        self.raw.execute(self.db.begin_write)
        try:
            yield self
            self.raw.execute("COMMIT")
        except BaseException:
            self._rollback()
            raise

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[Connection]:
        """A read transaction: every query inside sees the same committed state."""
        self.raw.execute(self.db.begin_snapshot)
        try:
            yield self
        finally:
            self._rollback()

    def lock(self, scope: str) -> None:
        """Serialise with every other process holding `scope` until this transaction ends."""
        self.db.lock(self, scope)

    def _rollback(self) -> None:
        with contextlib.suppress(Exception):
            self.raw.execute("ROLLBACK")

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.raw.close()


class Database:
    """Where a ledger lives; opens connections with the schema migrated."""

    kind = ""
    begin_write = "BEGIN"
    begin_snapshot = "BEGIN"
    errors: tuple[type[BaseException], ...] = ()

    def sql(self, sql: str) -> str:
        return sql

    def exists(self) -> bool:
        """Whether there is anything to read (reading must never create a SQLite file)."""
        return True

    def connect(self) -> Connection:
        raise NotImplementedError

    def insert(self, conn: Connection, sql: str, params: Sequence[Any]) -> int | None:
        raise NotImplementedError

    def lock(self, conn: Connection, scope: str) -> None:
        raise NotImplementedError

    def describe(self, exc: BaseException) -> str:
        raise NotImplementedError

    def lost(self, exc: BaseException) -> bool:
        """Whether `exc` means the connection is gone (reconnect; queue the row)."""
        return True

    def __str__(self) -> str:
        raise NotImplementedError


class SQLiteDatabase(Database):
    """A ledger file: WAL mode, a busy timeout, `BEGIN IMMEDIATE` writers."""

    kind = "sqlite"
    begin_write = "BEGIN IMMEDIATE"
    errors = (sqlite3.Error, OSError)

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def __str__(self) -> str:
        return str(self.path)

    def exists(self) -> bool:
        return self.path.exists()

    def connect(self) -> Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        timeout = BUSY_TIMEOUT_S
        raw = sqlite3.connect(
            self.path,
            timeout=timeout,
            isolation_level=None,  # explicit BEGIN below
            check_same_thread=False,  # callers hold a lock; work runs in worker threads
        )
        raw.row_factory = sqlite3.Row
        conn = Connection(raw, self)
        try:
            raw.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
            raw.execute("PRAGMA foreign_keys = ON")
            if raw.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                raw.execute("PRAGMA journal_mode = WAL")
            # WAL + NORMAL: a commit is a write to the WAL, fsync only at checkpoints.
            raw.execute("PRAGMA synchronous = NORMAL")
            migrate(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    def version(self, conn: Connection) -> int:
        return int(conn.raw.execute("PRAGMA user_version").fetchone()[0])

    def set_version(self, conn: Connection, version: int) -> None:
        conn.raw.execute(f"PRAGMA user_version = {int(version)}")

    def insert(self, conn: Connection, sql: str, params: Sequence[Any]) -> int | None:
        cur = conn.raw.execute(sql, tuple(params))
        return int(cur.lastrowid) if cur.rowcount and cur.lastrowid else None

    def lock(self, conn: Connection, scope: str) -> None:
        return None  # BEGIN IMMEDIATE already holds the database's one write lock

    def lost(self, exc: BaseException) -> bool:
        return True  # a locked or replaced file may be fine on the next try

    def describe(self, exc: BaseException) -> str:
        text = str(exc)
        if isinstance(exc, LedgerError):
            return text
        lowered = text.lower()
        if "locked" in lowered or "busy" in lowered:
            return f"{self.path} is locked by another process ({text})"
        if "not a database" in lowered or "malformed" in lowered:
            return f"{self.path} is corrupt ({text}); move it aside to start a new ledger"
        return f"{self.path}: {text}"


class PostgresDatabase(Database):
    """A team's ledger in PostgreSQL (psycopg 3), in its own schema `modelrouter`."""

    kind = "postgresql"
    # One snapshot for a multi-query read (budget usage): REPEATABLE READ.
    begin_snapshot = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"

    def __init__(self, url: str) -> None:
        self.url = url
        try:
            import psycopg
        except ImportError:
            raise LedgerError(
                f"{redact_url(url)}: a PostgreSQL ledger needs psycopg; "
                "install it with: pip install 'modelrouter[team]'"
            ) from None
        self._psycopg = psycopg
        self.errors = (psycopg.Error, OSError)

    def __str__(self) -> str:
        return redact_url(self.url)

    def sql(self, sql: str) -> str:
        # Queries are written with SQLite's `?`; none of them contains a literal % or ?.
        return sql.replace("?", "%s")

    def connect(self) -> Connection:
        from psycopg.rows import dict_row

        raw = self._psycopg.connect(
            self.url,
            autocommit=True,  # transactions are explicit, as on SQLite
            row_factory=dict_row,
            connect_timeout=CONNECT_TIMEOUT_S,
            application_name="modelrouter",
            options=f"-c statement_timeout={STATEMENT_TIMEOUT_MS}",
        )
        conn = Connection(raw, self)
        try:
            migrate(conn)
            raw.execute(f"SET search_path TO {PG_SCHEMA}")
        except BaseException:
            conn.close()
            raise
        return conn

    def version(self, conn: Connection) -> int:
        row = conn.raw.execute(f"SELECT version FROM {PG_SCHEMA}.schema_version").fetchone()
        return int(row["version"]) if row else 0

    def set_version(self, conn: Connection, version: int) -> None:
        conn.raw.execute(f"UPDATE {PG_SCHEMA}.schema_version SET version = %s", (version,))

    def insert(self, conn: Connection, sql: str, params: Sequence[Any]) -> int | None:
        row = conn.raw.execute(self.sql(sql) + " RETURNING id", tuple(params)).fetchone()
        return int(row["id"]) if row else None

    def lock(self, conn: Connection, scope: str) -> None:
        conn.raw.execute("SELECT pg_advisory_xact_lock(%s)", (_lock_key(scope),))

    def lost(self, exc: BaseException) -> bool:
        return isinstance(exc, (self._psycopg.OperationalError, self._psycopg.InterfaceError))

    def describe(self, exc: BaseException) -> str:
        if isinstance(exc, LedgerError):
            return str(exc)
        text = " ".join(str(exc).split()) or type(exc).__name__
        return f"{self}: {text}"


def _lock_key(scope: str) -> int:
    """A stable signed 64-bit advisory lock key for `scope` (same in every process)."""
    value = zlib.crc32(b"modelrouter") << 32 | zlib.crc32(scope.encode())
    return value - (1 << 64) if value >= 1 << 63 else value


def migrate(conn: Connection) -> None:
    """Bring the schema up to date, once, even with several processes starting at once."""
    db = conn.db
    postgres = isinstance(db, PostgresDatabase)
    target = len(MIGRATIONS)
    if not postgres and db.version(conn) == target:  # type: ignore[attr-defined]
        return  # the common case costs one PRAGMA
    conn.raw.execute(db.begin_write)
    try:
        if postgres:
            conn.raw.execute("SELECT pg_advisory_xact_lock(%s)", (_lock_key(_MIGRATION_LOCK),))
            conn.raw.execute(f"CREATE SCHEMA IF NOT EXISTS {PG_SCHEMA}")
            conn.raw.execute(
                f"CREATE TABLE IF NOT EXISTS {PG_SCHEMA}.schema_version (version INTEGER NOT NULL)"
            )
            conn.raw.execute(
                f"INSERT INTO {PG_SCHEMA}.schema_version (version) SELECT 0"
                f" WHERE NOT EXISTS (SELECT 1 FROM {PG_SCHEMA}.schema_version)"
            )
            conn.raw.execute(f"SET LOCAL search_path TO {PG_SCHEMA}")
        # Read inside the lock: another process may have migrated meanwhile.
        version = db.version(conn)  # type: ignore[attr-defined]
        if version > target:
            raise LedgerError(
                f"{db} has schema version {version}, newer than this ModelRouter "
                f"understands ({target}); upgrade ModelRouter to use it"
            )
        for number in range(version, target):
            for statement in statements(MIGRATIONS[number]):
                conn.raw.execute(for_postgres(statement) if postgres else statement)
            db.set_version(conn, number + 1)  # type: ignore[attr-defined]
        conn.raw.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(Exception):
            conn.raw.execute("ROLLBACK")
        raise


def open_database(target: str | os.PathLike[str]) -> Database:
    """The database at `target`: a `postgresql://` URL, else a SQLite file path."""
    text = str(target)
    if is_url(text):
        return PostgresDatabase(text)
    if re.match(r"^[a-z][a-z0-9+.-]*://", text):
        raise LedgerError(f"unsupported ledger URL {text!r}: use a postgresql:// URL or a file")
    return SQLiteDatabase(target)
