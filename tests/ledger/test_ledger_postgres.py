"""The ledger works the same on SQLite and on a real PostgreSQL: schema, rows, stats,
budgets, labels, migrations with several processes starting at once, and the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
from modelrouter.budget import BudgetGuard
from modelrouter.config import Budget
from modelrouter.ledger import SCHEMA_VERSION, Ledger, LedgerError
from modelrouter.ledger_db import redact_url
from modelrouter.stats import summarize
from support.cli import run_modelrouter
from support.ledger_samples import entry, make_rules, week_of_entries

TESTS = str(Path(__file__).resolve().parents[1])


def _comparable(e) -> dict:
    d = e.to_dict()
    d.pop("id")
    return d


def test_the_schema_is_the_same_on_both(tmp_path, pg_url):
    lite = Ledger(tmp_path / "ledger.sqlite3")
    lite.count()
    sqlite_columns = {
        table: [r["name"] for r in lite.query(f"PRAGMA table_info({table})")]
        for table in [
            r["name"] for r in lite.query("SELECT name FROM sqlite_master WHERE type = 'table'")
        ]
    }
    lite.close()
    pg = Ledger(pg_url)
    pg.count()
    pg_columns: dict[str, list[str]] = {}
    for r in pg.query(
        "SELECT table_name, column_name FROM information_schema.columns"
        " WHERE table_schema = 'modelrouter' AND table_name != 'schema_version'"
        " ORDER BY table_name, ordinal_position"
    ):
        pg_columns.setdefault(r["table_name"], []).append(r["column_name"])
    version = pg.query("SELECT version FROM modelrouter.schema_version")
    pg.close()
    assert pg_columns == sqlite_columns
    assert {"requests", "attempts", "reservations", "api_keys", "cooldowns"} <= set(pg_columns)
    assert [r["version"] for r in version] == [SCHEMA_VERSION]


def test_rows_read_back_identically_and_summarise_the_same(ledger_target):
    rules = make_rules()
    now = time.time()
    written = week_of_entries(rules, now)
    written[3].tier_override, written[3].prompt = "strong", "write the parser tests"
    ledger = Ledger(ledger_target)
    ids = [ledger.record(e) for e in written]
    assert ids == list(range(1, len(written) + 1))
    back = ledger.entries()
    assert [_comparable(e) for e in back] == [_comparable(e) for e in written]
    assert _comparable(ledger.entry(ids[3])) == _comparable(written[3])
    assert ledger.entry(10_000) is None
    since = now - 3 * 86400
    assert summarize(ledger.entries(since=since)) == summarize(
        [e for e in written if e.ts >= since]
    )
    assert ledger.spend_since(since) == pytest.approx(
        sum(e.cost_usd for e in written if e.ts >= since)
    )
    assert ledger.labels() == [("write the parser tests", "strong", "override")]
    ledger.close()


def test_budgets_read_the_same_from_both(ledger_target):
    rules = make_rules({"sonnet": Budget(daily_usd=0.05, requests_per_hour=3)})
    ledger = Ledger(ledger_target)
    now = time.time()
    ledger.record(entry(rules, ts=now, tier="strong", input_tokens=2000, output_tokens=3000))
    # A new process reads the state back from the database.
    guard = BudgetGuard(Ledger(ledger_target), rules)
    assert guard.blocked_reason("sonnet") == "daily budget $0.05 spent ($0.051 today)"
    ledger.close()


def test_a_row_written_twice_is_stored_once(ledger_target):
    # A commit whose reply was lost is retried: the row's uid keeps it single.
    rules = make_rules()
    ledger = Ledger(ledger_target)
    e = entry(rules, ts=time.time(), failed_first="mini", tier="standard", backend="sonnet")
    first = ledger.record(e)
    again = ledger.record(e)
    assert first == again
    assert ledger.count() == 1
    assert len(ledger.entry(first).attempts) == 2
    ledger.close()


MIGRATOR = """
import sys, time
sys.path.insert(0, sys.argv[2])
from support.ledger_samples import entry, make_rules
from modelrouter.ledger import Ledger
url = sys.argv[1]
while time.time() < float(sys.argv[3]):
    time.sleep(0.001)
ledger = Ledger(url)
if ledger.record(entry(make_rules(), ts=time.time())) is None:
    raise SystemExit(f"not recorded: {ledger.last_error}")
ledger.close()
"""


def test_processes_starting_at_once_migrate_a_new_database_once(pg_url):
    start = time.time() + 1.5  # every process opens the database at the same moment
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", MIGRATOR, pg_url, TESTS, str(start)],
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(6)
    ]
    errors = [p.communicate(timeout=60)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * 6, errors
    ledger = Ledger(pg_url)
    assert ledger.count() == 6
    assert ledger.query("SELECT version FROM modelrouter.schema_version")[0]["version"] == (
        SCHEMA_VERSION
    )
    ledger.close()


def test_a_database_from_a_newer_version_is_left_alone(pg_url):
    Ledger(pg_url).count()
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("UPDATE modelrouter.schema_version SET version = version + 1")
    ledger = Ledger(pg_url)
    assert ledger.record(entry(make_rules(), ts=time.time())) is None
    assert "newer" in ledger.last_error
    with pytest.raises(LedgerError, match="newer"):
        ledger.entries()
    ledger.close()


def test_an_unreachable_server_is_a_clear_error_for_readers(postgres_server):
    url = f"postgresql://postgres:secret@127.0.0.1:{postgres_server.port + 1}/nowhere"
    ledger = Ledger(url)
    with pytest.raises(LedgerError) as caught:
        ledger.entries()
    assert "127.0.0.1" in str(caught.value) and "secret" not in str(caught.value)
    assert (
        redact_url(url) == f"postgresql://postgres:***@127.0.0.1:{postgres_server.port + 1}/nowhere"
    )
    ledger.close()


def test_stats_report_and_train_read_a_postgres_ledger(pg_url, tmp_path):
    rules = make_rules()
    now = time.time()
    ledger = Ledger(pg_url)
    written = week_of_entries(rules, now)
    # A label in the shipped rules' tiers (what `train --from-history` learns from).
    written[5].tier_override, written[5].prompt = "architecture", "design the plugin system"
    for e in written:
        ledger.record(e)
    ledger.close()
    env = {"MODELROUTER_LEDGER_URL": pg_url}
    stats = run_modelrouter("stats", "--since", "all", "--json", env=env)
    assert stats.returncode == 0, stats.stderr
    summary = json.loads(stats.stdout)
    assert summary["requests"] == len(written)
    assert summary["spend_usd"] == pytest.approx(sum(e.cost_usd for e in written), abs=1e-5)
    assert summary["ledger"] == pg_url and summary["not_recorded"] == 0
    one = run_modelrouter("stats", "--id", "6", env=env)
    assert one.returncode == 0 and "Ledger entry #6" in one.stdout
    out = tmp_path / "report.html"
    report = run_modelrouter("report", "--since", "all", "--out", str(out), env=env)
    assert report.returncode == 0, report.stderr
    assert f"({len(written)} requests)" in report.stdout
    # The rules' `ledger:` selects it too, when no environment variable does.
    rules_file = tmp_path / "rules.yaml"
    rules_file.write_text(f"extends: default\nledger: {pg_url}\n")
    by_rules = run_modelrouter("stats", "--rules", str(rules_file), "--json", env={})
    assert json.loads(by_rules.stdout)["requests"] == len(written)
    out_model = tmp_path / "personal.json"
    train = run_modelrouter(
        "train", "--from-history", "--min-examples", "1", "--out", str(out_model), env=env
    )
    assert train.returncode == 0, train.stderr
    assert f"fine-tuned on 1 correction(s) from {pg_url}" in train.stdout
    assert out_model.is_file()
