"""Which ledger is used: --ledger, then $MODELROUTER_LEDGER_URL, then the rules' `ledger:`,
then the default file; a bad `ledger:` is a rules error with its line."""

from __future__ import annotations

import json

from modelrouter.ledger import Ledger, default_path, ledger_target
from modelrouter.rules import check_rules, load_rules
from support.cli import run_modelrouter
from support.ledger_samples import entry, make_rules


def test_a_relative_ledger_path_in_rules_is_next_to_the_rules_file(tmp_path, monkeypatch):
    rules_file = tmp_path / "team" / "rules.yaml"
    rules_file.parent.mkdir()
    rules_file.write_text("extends: default\nledger: shared/ledger.sqlite3\n")
    rules = load_rules(rules_file)
    assert ledger_target(rules) == tmp_path / "team" / "shared" / "ledger.sqlite3"
    monkeypatch.setenv("MODELROUTER_LEDGER_URL", str(tmp_path / "env.sqlite3"))
    assert ledger_target(rules) == tmp_path / "env.sqlite3"  # the environment wins
    assert ledger_target(rules, str(tmp_path / "arg.sqlite3")) == tmp_path / "arg.sqlite3"
    monkeypatch.delenv("MODELROUTER_LEDGER_URL")
    assert ledger_target(None) == default_path()


def test_stats_follows_the_rules_ledger(tmp_path):
    path = tmp_path / "team.sqlite3"
    ledger = Ledger(path)
    ledger.record(entry(make_rules(), ts=1e9 + 1))
    ledger.close()
    rules_file = tmp_path / "rules.yaml"
    rules_file.write_text(f"extends: default\nledger: {path}\n")
    out = run_modelrouter("stats", "--since", "all", "--json", "--rules", str(rules_file), env={})
    assert json.loads(out.stdout)["requests"] == 1
    assert json.loads(out.stdout)["ledger"] == str(path)


def test_an_unsupported_ledger_url_is_a_rules_error(tmp_path):
    rules_file = tmp_path / "rules.yaml"
    rules_file.write_text("extends: default\nledger: mysql://db/router\n")
    problems = check_rules(rules_file)
    assert [(p.line, p.message) for p in problems] == [
        (2, "unsupported ledger URL 'mysql://db/router'")
    ]
    rules_file.write_text("extends: default\nledger: [a, b]\n")
    assert "ledger must be" in check_rules(rules_file)[0].message
