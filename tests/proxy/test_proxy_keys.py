"""Proxy keys: created once (shown once, stored hashed), listed, revoked, checked, on both
ledger databases; spend per key in `stats --by key`."""

from __future__ import annotations

import hashlib
import json
import time

import pytest
from modelrouter.keys import KeyStore, ProxyKeyError, create_key, has_keys, list_keys, revoke_key
from modelrouter.ledger import Ledger
from support.cli import run_modelrouter
from support.ledger_samples import entry, make_rules


def test_keys_cli_creates_shows_once_lists_and_revokes(ledger_target):
    env = {"MODELROUTER_LEDGER_URL": ledger_target}
    created = run_modelrouter(
        "keys", "create", "alice", "--daily-usd", "2.5", "--tiers", "trivial,feature", env=env
    )
    assert created.returncode == 0, created.stderr
    secret = created.stdout.strip()
    assert secret.startswith("mr-") and len(secret) == 35
    assert "shown only this once" in created.stderr
    ledger = Ledger(ledger_target)
    stored = ledger.query("SELECT * FROM api_keys")
    assert len(stored) == 1 and secret not in json.dumps([dict(r) for r in stored])
    assert stored[0]["hash"] == hashlib.sha256(secret.encode()).hexdigest()

    listed = run_modelrouter("keys", "list", "--json", env=env)
    keys = json.loads(listed.stdout)
    assert [(k["name"], k["daily_usd"], k["tiers"]) for k in keys] == [
        ("alice", 2.5, ["trivial", "feature"])
    ]
    assert secret not in listed.stdout and keys[0]["prefix"] == secret[:11]
    assert secret not in run_modelrouter("keys", "list", env=env).stdout

    again = run_modelrouter("keys", "create", "alice", env=env)
    assert again.returncode == 1 and "exists; revoke it first" in again.stderr
    store = KeyStore(ledger, cache_s=0)
    assert store.check(secret).name == "alice"
    revoked = run_modelrouter("keys", "revoke", "alice", env=env)
    assert revoked.returncode == 0 and "revoked key 'alice'" in revoked.stdout
    assert store.check(secret) is None
    assert json.loads(run_modelrouter("keys", "list", "--json", env=env).stdout) == []
    assert run_modelrouter("keys", "revoke", "alice", env=env).returncode == 1
    ledger.close()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["create", "bad name"], "invalid key name"),
        (["create", "bob", "--daily-usd", "-1"], "dollars >= 0"),
        (["create", "bob", "--monthly-usd", "lots"], "not a number of dollars"),
        (["create", "bob", "--tiers", "trivial,galaxy-brain"], "unknown tier(s) galaxy-brain"),
        (["revoke", "nobody"], "no key named 'nobody'"),
    ],
)
def test_bad_key_requests_get_a_clear_error(tmp_path, argv, message):
    env = {"MODELROUTER_LEDGER_URL": str(tmp_path / "ledger.sqlite3")}
    result = run_modelrouter("keys", *argv, env=env)
    assert result.returncode != 0 and message in result.stderr


def test_a_revoked_name_can_get_a_new_key_and_keeps_its_history(ledger_target):
    ledger = Ledger(ledger_target)
    assert not has_keys(ledger)
    _, old_secret = create_key(ledger, "ci", monthly_usd=10)
    assert has_keys(ledger)
    revoke_key(ledger, "ci")
    assert has_keys(ledger)  # revoking the last key keeps the proxy locked
    _, new_secret = create_key(ledger, "ci", monthly_usd=20)
    store = KeyStore(ledger, cache_s=0)
    assert store.check(old_secret) is None
    assert store.check(new_secret).monthly_usd == 20
    assert store.limit("ci").monthly_usd == 20
    assert [k.name for k in list_keys(ledger, include_revoked=True)] == ["ci"]
    with pytest.raises(ProxyKeyError):
        create_key(ledger, "ci")
    ledger.close()


def test_a_revocation_reaches_a_caching_store_within_its_cache_time(tmp_path):
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    _, secret = create_key(ledger, "svc")
    store = KeyStore(ledger, cache_s=0.2)
    assert store.check(secret) is not None
    revoke_key(ledger, "svc")
    assert store.check(secret) is not None  # cached for at most cache_s
    time.sleep(0.25)
    assert store.check(secret) is None
    assert store.check("mr-not-a-key") is None
    ledger.close()


def test_stats_by_key_shows_spend_and_savings_per_key(ledger_target):
    rules = make_rules()
    ledger = Ledger(ledger_target)
    now = time.time()
    for key, n in (("alice", 3), ("bob", 1), (None, 2)):
        for _ in range(n):
            ledger.record(entry(rules, ts=now, tier="strong", key=key))
    ledger.close()
    env = {"MODELROUTER_LEDGER_URL": ledger_target}
    result = run_modelrouter("stats", "--by", "key", "--json", env=env)
    rows = {r["key"]: r for r in json.loads(result.stdout)["by"]}
    assert {k: r["requests"] for k, r in rows.items()} == {"alice": 3, "bob": 1, "(no key)": 2}
    assert rows["alice"]["saved_usd"] > 0
    text = run_modelrouter("stats", "--by", "key", env=env).stdout
    assert "alice" in text and "(no key)" in text


def test_a_keys_tiers_bound_where_its_requests_run():
    from modelrouter.keys import ProxyKey

    order = ["trivial", "feature", "debug", "architecture"]
    ci = ProxyKey("ci", "mr-x", 0.0, tiers=("trivial", "feature"))
    assert [ci.tier_for(t, order) for t in order] == ["trivial", "feature", "feature", "feature"]
    strong_only = ProxyKey("lead", "mr-y", 0.0, tiers=("architecture",))
    assert strong_only.tier_for("trivial", order) == "architecture"
    anything = ProxyKey("all", "mr-z", 0.0)
    assert [anything.tier_for(t, order) for t in order] == order
