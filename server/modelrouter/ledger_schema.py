"""The ledger's schema: one list of versioned migrations for SQLite and PostgreSQL alike.

Each entry upgrades the schema by one version. Never edit a released entry: append a new
one. The statements are written for SQLite; `for_postgres` maps its few type names
(`INTEGER PRIMARY KEY`, `REAL`, `INTEGER`) to PostgreSQL's, so both databases hold the same
tables, columns and indexes, and every query in the ledger runs unchanged on both.

Times are unix seconds (`REAL` / `DOUBLE PRECISION`) on both, so window queries are the same.
"""

from __future__ import annotations

import re

MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE requests (
        id INTEGER PRIMARY KEY,
        ts REAL NOT NULL,                 -- unix time the request finished
        source TEXT NOT NULL,             -- lsp | ask | serve
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
    """
    -- A request's own id, made by the process that answered it: a row written again after a
    -- lost connection (the commit may have gone through) is not stored twice.
    ALTER TABLE requests ADD COLUMN uid TEXT;
    CREATE UNIQUE INDEX requests_uid ON requests(uid);
    -- The proxy key the request came in with.
    ALTER TABLE requests ADD COLUMN key_name TEXT;
    CREATE INDEX requests_key_ts ON requests(key_name, ts);
    -- Money held by requests in flight, taken in the transaction that checked the budget
    -- and given back in the one that records the request (or when it fails).
    CREATE TABLE reservations (
        id INTEGER PRIMARY KEY,
        created REAL NOT NULL,
        expires REAL NOT NULL,            -- a crashed process's hold ends by itself
        amount_usd REAL NOT NULL,
        backend TEXT,
        key_name TEXT
    );
    CREATE INDEX reservations_backend ON reservations(backend, expires);
    CREATE INDEX reservations_key ON reservations(key_name, expires);
    -- Proxy keys: only a SHA-256 of the key is kept; `prefix` tells keys apart in listings.
    CREATE TABLE api_keys (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        hash TEXT NOT NULL UNIQUE,
        prefix TEXT NOT NULL,
        created REAL NOT NULL,
        revoked REAL,
        daily_usd REAL,
        monthly_usd REAL,
        tiers TEXT                        -- comma-separated allowed tiers; NULL: all
    );
    -- Requests a process could not record (its queue was full while the database was
    -- away), reported when it came back so `stats` can say so.
    CREATE TABLE dropped (
        id INTEGER PRIMARY KEY,
        ts REAL NOT NULL,
        host TEXT NOT NULL,
        pid INTEGER NOT NULL,
        rows_dropped INTEGER NOT NULL,
        first_ts REAL
    );
    CREATE INDEX dropped_ts ON dropped(ts);
    -- Backend cooldowns shared by every process on this database (wall-clock `until`).
    CREATE TABLE cooldowns (
        backend TEXT PRIMARY KEY,
        until REAL NOT NULL,
        reason TEXT NOT NULL DEFAULT '',
        failures INTEGER NOT NULL DEFAULT 0,
        updated REAL NOT NULL
    );
    """,
    """
    -- The proxy's client program (from its user-agent), beside `source` = proxy.
    ALTER TABLE requests ADD COLUMN client TEXT;
    """,
    """
    -- Automatic escalation: a re-ask one tier up names the failed check ("<check>: <detail>")
    -- of the answer it replaces (`redo_of`); that answer's row says which check it failed.
    ALTER TABLE requests ADD COLUMN escalation TEXT;
    ALTER TABLE requests ADD COLUMN check_failed TEXT;
    ALTER TABLE requests ADD COLUMN check_detail TEXT;
    """,
)


def schema_version() -> int:
    """The version this ModelRouter writes (the number of migrations)."""
    return len(MIGRATIONS)


def statements(script: str) -> list[str]:
    """The statements of one migration, so it runs inside the caller's transaction.

    (SQLite's executescript would COMMIT first.) Comments are dropped: a `;` in one must not
    split a statement.
    """
    text = re.sub(r"--[^\n]*", "", script)
    return [s.strip() for s in text.split(";") if s.strip()]


_PG_TYPES = (
    (re.compile(r"\bINTEGER PRIMARY KEY\b"), "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"),
    (re.compile(r"\bREAL\b"), "DOUBLE PRECISION"),
    (re.compile(r"\bINTEGER\b"), "BIGINT"),
)


def for_postgres(statement: str) -> str:
    """The same statement with PostgreSQL's names for SQLite's types."""
    for pattern, replacement in _PG_TYPES:
        statement = pattern.sub(replacement, statement)
    return statement
