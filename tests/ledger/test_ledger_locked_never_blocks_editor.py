"""Another process holding the ledger's lock delays the bookkeeping, never the editor: a fix
and hovers answer without waiting on the database (no read or write on the event loop), and
budgets configured in the rules are checked without reading the ledger in place."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

import pytest
from modelrouter.ledger import LEDGER_FILENAME, Ledger
from modelrouter.ledger_db import BUSY_TIMEOUT_S
from support.fakes.provider import Reply
from support.lsp import editor_session, fenced, lines_range_json

SOURCE = "def f():\n    return teh_value\n"
FIXED = "def f():\n    return the_value\n"

HOLD = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("PRAGMA locking_mode = EXCLUSIVE")  # readers are shut out too
conn.execute("BEGIN EXCLUSIVE")
conn.execute("INSERT INTO requests (ts, source, tier, status) VALUES (0, 'ask', 't', 'ok')")
print("locked", flush=True)
time.sleep(120)
"""


@pytest.fixture
def locked_ledger(tmp_path: Path):
    path = tmp_path / "data" / LEDGER_FILENAME
    ledger = Ledger(path)
    ledger.count()  # creates the database and its tables
    ledger.close()
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        yield path
    finally:
        holder.kill()
        holder.wait()


async def _timed(coro) -> tuple[object, float]:
    start = time.perf_counter()
    result = await coro
    return result, time.perf_counter() - start


@pytest.mark.parametrize("budget", [False, True])
async def test_a_locked_ledger_delays_bookkeeping_not_the_editor(
    tmp_path, fake_provider, locked_ledger, budget
):
    # A reply that streams for about a second, so hovers run while the job does.
    fake_provider.default("local", Reply(text=fenced(FIXED), chunk_size=4, delay=0.02))
    async with editor_session(tmp_path, fake_provider) as editor:
        if budget:
            rules = tmp_path / "rules.yaml"
            text = rules.read_text().replace(
                "    model: tiny-local\n", "    model: tiny-local\n    budget: {daily_usd: 5}\n"
            )
            rules.write_text(text)
        uri = editor.open("app.py", SOURCE)
        other = editor.open("other.py", "x = 1\n")
        run = asyncio.ensure_future(
            _timed(
                editor.execute(
                    "modelrouter.run",
                    {"action": "fix-typo", "uri": uri, "range": lines_range_json(1, 2)},
                )
            )
        )
        hovers = []
        while not run.done():
            _, took = await _timed(editor.hover(other, 0, 0))
            hovers.append(took)
            await asyncio.sleep(0.05)
        result, took = await run
        status, status_took = await _timed(editor.execute("modelrouter.status"))
        listed, list_took = await _timed(editor.execute("modelrouter.actions"))
    assert result["applied"] is True, result
    assert editor.text(uri) == FIXED
    # Every wait on the lock costs the busy timeout, and a job makes several status updates
    # and bookkeeping steps: the bound is generous for a loaded machine, yet far below what
    # waiting on the database would cost.
    bound = 3 * BUSY_TIMEOUT_S
    assert took < bound, took
    assert hovers and max(hovers) < bound, hovers
    assert status_took < bound and status["last_backend"] == "local"
    assert list_took < bound and listed
