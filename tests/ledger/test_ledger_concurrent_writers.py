"""The server and four CLI processes writing the same ledger at once lose no row."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from modelrouter.ledger import Ledger
from support.ledger_samples import entry, make_rules

PER_PROCESS = 100
CLI_PROCESSES = 4

# What a `modelrouter ask` process does with the ledger: open it, record, exit.
WRITER = f"""
import sys, time
sys.path.insert(0, sys.argv[3])
from support.ledger_samples import entry, make_rules
from modelrouter.ledger import Ledger

path, tag = sys.argv[1], sys.argv[2]
rules = make_rules()
while not (__import__("pathlib").Path(path + ".go")).exists():
    time.sleep(0.005)
for i in range({PER_PROCESS}):
    ledger = Ledger(path)  # a fresh process per request, like the CLI
    e = entry(rules, ts=time.time(), tier="strong", failed_first="sonnet", backend="opus",
              workspace=tag, action=f"{{tag}}-{{i}}")
    if ledger.record(e) is None:
        raise SystemExit(f"not recorded: {{ledger.last_error}}")
    ledger.close()
"""


async def test_server_and_cli_processes_lose_no_row(tmp_path):
    path = tmp_path / "ledger.sqlite3"
    tests_dir = str(Path(__file__).resolve().parents[1])
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path), f"cli-{k}", tests_dir],
            stderr=subprocess.PIPE,
            text=True,
        )
        for k in range(CLI_PROCESSES)
    ]
    try:
        rules = make_rules()
        server = Ledger(path)
        # Start everyone at once so the writes really interleave.
        Path(f"{path}.go").touch()
        ids = await asyncio.gather(
            *(
                server.arecord(
                    entry(
                        rules,
                        ts=time.time(),
                        tier="strong",
                        failed_first="sonnet",
                        backend="opus",
                        workspace="server",
                        action=f"server-{i}",
                    )
                )
                for i in range(PER_PROCESS)
            )
        )
        for p in procs:
            _, err = p.communicate(timeout=120)
            assert p.returncode == 0, err
        server.close()
    finally:
        Path(f"{path}.go").touch()
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()

    assert None not in ids and len(set(ids)) == PER_PROCESS
    total = PER_PROCESS * (CLI_PROCESSES + 1)
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT COUNT(*) FROM requests").fetchone()[0] == total
    actions = {a for (a,) in conn.execute("SELECT action FROM requests")}
    expected = {f"server-{i}" for i in range(PER_PROCESS)} | {
        f"cli-{k}-{i}" for k in range(CLI_PROCESSES) for i in range(PER_PROCESS)
    }
    assert actions == expected
    # Every request kept both of its attempts, attached to the right request.
    per_request = conn.execute(
        "SELECT COUNT(*) FROM attempts GROUP BY request_id HAVING COUNT(*) = 2"
    ).fetchall()
    assert len(per_request) == total
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
