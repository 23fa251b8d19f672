"""A broken ledger never costs the user a request: it warns, queues the row, and writes it
once the database takes it again."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
import time

import pytest
from modelrouter import ledger_db, ledger_schema
from modelrouter.ledger import SCHEMA_VERSION, Ledger, LedgerError
from support.ledger_samples import entry, make_rules


def test_corrupt_database_is_not_recorded_with_a_warning(tmp_path, caplog):
    path = tmp_path / "ledger.sqlite3"
    path.write_bytes(b"this is not a database, just garbage " * 200)
    ledger = Ledger(path)
    with caplog.at_level(logging.WARNING, logger="modelrouter.ledger"):
        assert ledger.record(entry(make_rules(), ts=time.time())) is None
        assert ledger.record(entry(make_rules(), ts=time.time())) is None
    assert "corrupt" in ledger.last_error and str(path) in ledger.last_error
    warnings = [r for r in caplog.records if "not recorded" in r.getMessage()]
    assert len(warnings) == 1  # once per problem, not once per request
    with pytest.raises(LedgerError, match="corrupt"):
        ledger.entries()


def test_locked_database_queues_the_row_and_writes_it_when_free(tmp_path, monkeypatch):
    monkeypatch.setattr(ledger_db, "BUSY_TIMEOUT_S", 0.05)
    path = tmp_path / "ledger.sqlite3"
    rules = make_rules()
    ledger = Ledger(path)
    assert ledger.record(entry(rules, ts=time.time(), action="first")) == 1
    ledger.close()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        assert ledger.record(entry(rules, ts=time.time(), action="second")) is None
        assert "locked" in ledger.last_error
        assert ledger.queued == 1
        assert ledger.record(entry(rules, ts=time.time(), action="third")) is None
        assert ledger.queued == 2  # behind the first queued row: order is kept
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert ledger.flush(timeout=5)
    assert ledger.queued == 0 and ledger.last_error is None
    assert [e.action for e in ledger.entries()] == ["first", "second", "third"]
    ledger.close()


def test_a_full_queue_drops_rows_counts_them_and_reports_them(tmp_path, monkeypatch):
    monkeypatch.setattr(ledger_db, "BUSY_TIMEOUT_S", 0.05)
    path = tmp_path / "ledger.sqlite3"
    rules = make_rules()
    ledger = Ledger(path, queue_limit=2)
    ledger.record(entry(rules, ts=time.time()))
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        for _ in range(5):
            assert ledger.record(entry(rules, ts=time.time())) is None
        assert (ledger.queued, ledger.dropped) == (2, 3)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert ledger.flush(timeout=5)
    assert ledger.count() == 3
    assert ledger.dropped_since(None) == 3  # `stats` reports them as not recorded
    ledger.close()


def test_database_from_a_newer_version_is_left_alone(tmp_path):
    path = tmp_path / "ledger.sqlite3"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    ledger = Ledger(path)
    assert ledger.record(entry(make_rules(), ts=time.time())) is None
    assert "newer" in ledger.last_error
    assert sqlite3.connect(path).execute("SELECT name FROM sqlite_master").fetchall() == []


def test_older_schema_is_migrated_keeping_rows(tmp_path, monkeypatch):
    path = tmp_path / "ledger.sqlite3"
    old = Ledger(path)
    old.record(entry(make_rules(), ts=time.time(), action="fix-typo"))
    old.close()
    upgrade = "CREATE TABLE notes (request_id INTEGER, text TEXT);"
    monkeypatch.setattr(ledger_db, "MIGRATIONS", (*ledger_schema.MIGRATIONS, upgrade))
    new = Ledger(path)
    assert [e.action for e in new.entries()] == ["fix-typo"]
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION + 1
    assert conn.execute("SELECT COUNT(*) FROM notes").fetchone()[0] == 0


async def test_a_slow_write_does_not_stall_the_event_loop(tmp_path):
    path = tmp_path / "ledger.sqlite3"
    ledger = Ledger(path)
    ledger.record(entry(make_rules(), ts=time.time()))
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")  # the next write must wait for this lock
    write = asyncio.ensure_future(ledger.arecord(entry(make_rules(), ts=time.time())))
    ticks = 0
    while ticks < 50:  # the loop keeps running while the write waits
        await asyncio.sleep(0.001)
        ticks += 1
    assert not write.done()
    release = threading.Thread(target=lambda: (holder.execute("ROLLBACK"), holder.close()))
    release.start()
    assert await write == 2
    release.join()
    ledger.close()
