"""The ledger records automatic escalation on SQLite and PostgreSQL alike: the check an
answer failed (`Engine.record_check` / `Ledger.submit_check`) and the re-ask one tier up
that replaced it (`Job.escalation`, with `redo_of`). Older ledgers are migrated keeping
their rows, and a locked database delays the record of a check, never the caller."""

from __future__ import annotations

import asyncio
import sqlite3
import sys
import threading

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from modelrouter import ledger_db, ledger_schema
from modelrouter.backends.base import Message
from modelrouter.engine import Engine, Job
from modelrouter.errors import LedgerError
from modelrouter.ledger import CHECK_MAX_CHARS, Ledger, check_text
from modelrouter.routing.escalation import CheckFailure
from support.fakes.provider import Reply
from support.ledger_samples import entry, make_rules

UNCHANGED = CheckFailure("unchanged", "did not change the selection", "the answer equals it")


def _rules(fake_provider):
    return make_rules(
        mini={"base_url": fake_provider.base_url("openai", "mini")},
        sonnet={"base_url": fake_provider.base_url("anthropic", "sonnet")},
    )


def _job(tier: str, **labels) -> Job:
    return Job([Message("user", "fix the typo")], tier=tier, action="fix-typo", **labels)


async def test_a_failed_check_and_its_re_ask_are_recorded(ledger_target, fake_provider):
    fake_provider.default("mini", Reply(text="unchanged", input_tokens=900, output_tokens=40))
    fake_provider.default("sonnet", Reply(text="fixed", input_tokens=1100, output_tokens=60))
    ledger = Ledger(ledger_target)
    async with httpx.AsyncClient() as client:
        engine = Engine(_rules(fake_provider), ledger=ledger, client=client)
        first = await engine.run(_job("standard"))
        engine.record_check(first, UNCHANGED)
        why = f"{UNCHANGED.check}: {UNCHANGED.detail}"
        second = await engine.run(_job("strong", redo_of=first.ledger_id, escalation=why))
        await engine.aclose()
    assert ledger.flush()
    failed, re_ask = ledger.entries()
    assert failed.id == first.ledger_id and re_ask.id == second.ledger_id
    assert (failed.check_failed, failed.check_detail) == (UNCHANGED.check, UNCHANGED.detail)
    assert failed.escalation is None and re_ask.check_failed is None
    assert (re_ask.escalation, re_ask.redo_of, re_ask.tier) == (why, failed.id, "strong")
    assert re_ask.to_dict()["escalation"] == why
    assert failed.to_dict()["check_failed"] == UNCHANGED.check
    assert ledger.entry(failed.id).check_detail == UNCHANGED.detail
    ledger.close()


async def test_a_check_without_a_ledger_or_an_id_does_nothing(tmp_path, fake_provider):
    fake_provider.default("mini", Reply(text="unchanged"))
    async with httpx.AsyncClient() as client:
        engine = Engine(_rules(fake_provider), client=client)
        outcome = await engine.run(_job("standard"))
        engine.record_check(outcome, UNCHANGED)  # no ledger: nothing to record, no error
        await engine.aclose()
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    ledger.submit_check(None, "unchanged", "no id")
    assert ledger.flush() and not ledger.exists()


def test_check_words_are_masked_and_cut(ledger_target):
    ledger = Ledger(ledger_target)
    stored = ledger.record(entry(make_rules(), ts=1000.0))
    secret = "sk-proj-" + "Q7x" * 12
    ledger.submit_check(stored, "command", f"ruff said: token = {secret!r}\n" + "x" * 10_000)
    assert ledger.flush()
    detail = ledger.entry(stored).check_detail
    assert secret not in detail and "[redacted]" in detail
    assert detail.startswith("ruff said: token = ") and len(detail) == CHECK_MAX_CHARS
    ledger.close()


def test_a_check_on_a_missing_entry_changes_nothing(ledger_target):
    ledger = Ledger(ledger_target)
    stored = ledger.record(entry(make_rules(), ts=1000.0))
    ledger.submit_check(stored + 1, "unchanged", "")
    assert ledger.flush() and ledger.last_error is None
    assert [e.check_failed for e in ledger.entries()] == [None]
    ledger.close()


_OLD_INSERT = (
    "INSERT INTO requests (ts, source, action, tier, status, backend, cost_usd, redo_of, uid,"
    " client) VALUES (?,?,?,?,?,?,?,?,?,?)"
)


def test_a_ledger_from_before_escalation_is_migrated_keeping_its_rows(ledger_target, monkeypatch):
    # The schema as released before escalation: released migrations are never edited.
    before = ledger_schema.MIGRATIONS[:3]
    monkeypatch.setattr(ledger_db, "MIGRATIONS", before)
    old = Ledger(ledger_target)
    with old.transaction() as conn:
        conn.run(
            _OLD_INSERT, (10.0, "lsp", "fix-typo", "trivial", "ok", "local", 0.0, None, "a", None)
        )
        conn.run(_OLD_INSERT, (20.0, "ask", "implement", "strong", "ok", "opus", 0.5, 1, "b", None))
    with pytest.raises(LedgerError):
        old.query("SELECT escalation FROM requests")
    old.close()
    monkeypatch.undo()

    new = Ledger(ledger_target)
    rows = new.entries()
    assert [(e.ts, e.action, e.tier, e.backend, e.cost_usd, e.redo_of) for e in rows] == [
        (10.0, "fix-typo", "trivial", "local", 0.0, None),
        (20.0, "implement", "strong", "opus", 0.5, rows[0].id),
    ]
    assert all(e.escalation is e.check_failed is e.check_detail is None for e in rows)
    new.submit_check(rows[0].id, "unchanged", "the answer equals the selection")
    assert new.flush()
    assert new.entry(rows[0].id).check_failed == "unchanged"
    new.close()


HOLD = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("PRAGMA locking_mode = EXCLUSIVE")  # readers are shut out too
conn.execute("BEGIN EXCLUSIVE")
conn.execute("INSERT INTO requests (ts, source, tier, status) VALUES (0, 'ask', 't', 'ok')")
print("locked", flush=True)
sys.stdin.readline()  # held until the test says so
conn.execute("ROLLBACK")
"""


async def test_a_locked_ledger_delays_a_check_not_the_loop(tmp_path, fake_provider):
    path = tmp_path / "ledger.sqlite3"
    ledger = Ledger(path)
    ledger.count()  # creates the database
    ledger.close()  # and lets go of it, so another process can lock it
    holder = await asyncio.create_subprocess_exec(
        sys.executable, "-c", HOLD, str(path),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert holder.stdout is not None and holder.stdin is not None
    assert (await holder.stdout.readline()).strip() == b"locked"
    fake_provider.default("mini", Reply(text="unchanged"))
    async with httpx.AsyncClient() as client:
        engine = Engine(_rules(fake_provider), ledger=ledger, client=client)
        outcome = await engine.run(_job("standard"))
        # The answer's row waits on the lock, so its id is not known yet.
        assert outcome.ledger_id is None and outcome.ledger_uid
        ticks = 0
        engine.record_check(outcome, UNCHANGED)
        while ticks < 50:  # the loop keeps running while the writes wait
            await asyncio.sleep(0.001)
            ticks += 1
        holder.stdin.write(b"release\n")
        await holder.stdin.drain()
        assert await holder.wait() == 0
        await engine.aclose()
    assert await asyncio.to_thread(ledger.flush)
    (recorded,) = ledger.entries()
    assert recorded.uid == outcome.ledger_uid
    assert (recorded.check_failed, recorded.check_detail) == (UNCHANGED.check, UNCHANGED.detail)
    ledger.close()


def test_checks_queued_while_the_database_is_away_land_on_their_rows(tmp_path):
    path = tmp_path / "ledger.sqlite3"
    ledger = Ledger(path)
    ledger.count()
    ledger.close()
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("PRAGMA locking_mode = EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")
    holder.execute("INSERT INTO requests (ts, source, tier, status) VALUES (0, 'ask', 't', 'ok')")
    rules = make_rules()
    rows = [entry(rules, ts=100.0 + i, action=f"a{i}") for i in range(3)]
    assert ledger.record(rows[0]) is None  # queued: the database is locked
    for e in rows[1:]:
        ledger.record(e)
    ledger.submit_check(None, "syntax", "line 1", uid=rows[1].uid)
    ledger.submit_check(None, "unchanged", "", uid=rows[2].uid)
    release = threading.Thread(target=lambda: (holder.execute("ROLLBACK"), holder.close()))
    release.start()
    release.join()
    assert ledger.flush()
    assert [(e.action, e.check_failed) for e in ledger.entries()] == [
        ("a0", None),
        ("a1", "syntax"),
        ("a2", "unchanged"),
    ]
    ledger.close()


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.tuples(st.text(min_size=1, max_size=30), st.text(max_size=300)), max_size=5))
def test_any_check_words_are_stored_as_given_bar_secrets(ledger_target, checks):
    ledger = Ledger(ledger_target)
    ids = [ledger.record(entry(make_rules(), ts=float(i))) for i in range(len(checks))]
    for entry_id, (check, detail) in zip(ids, checks, strict=True):
        ledger.submit_check(entry_id, check, detail)
    assert ledger.flush() and ledger.last_error is None
    stored = [ledger.entry(i) for i in ids]
    assert [(e.check_failed, e.check_detail) for e in stored] == [
        (check_text(c), check_text(d)) for c, d in checks
    ]
    assert all("\x00" not in e.check_detail for e in stored)
    ledger.close()


@pytest.mark.parametrize("status", ["failed", "cancelled"])
def test_a_failed_re_ask_keeps_its_escalation(tmp_path, status):
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    rules = make_rules()
    first = ledger.record(entry(rules, ts=1.0, tier="standard"))
    re_ask = entry(rules, ts=2.0, tier="strong", status=status, redo_of=first)
    re_ask.escalation = "syntax: line 3: invalid syntax"
    ledger.record(re_ask)
    assert [(e.status, e.escalation) for e in ledger.entries()][1] == (status, re_ask.escalation)
    ledger.close()
