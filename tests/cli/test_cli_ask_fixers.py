"""`ask` with a file range: a fixer the request's words call for answers before any model,
with no keys and no network; the ledger records it at cost 0 with its savings. An answer of
a fixer that fails a check is not given: the models are asked."""

from __future__ import annotations

import json
import socket
import sys
from pathlib import Path

from support.cli import run_modelrouter

SOURCE = 'def greet(name):\n    return "Helo, " + name\n'


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def offline_rules(tmp_path: Path) -> Path:
    """The default rules, the trivial tier only a local backend on a closed loopback port."""
    path = tmp_path / "rules.yaml"
    dead = f"http://127.0.0.1:{closed_port()}"
    path.write_text(
        f'extends: default\nbackends:\n  local:\n    base_url: "{dead}"\n'
        "tiers:\n  trivial: [local]\n",
        encoding="utf-8",
    )
    return path


def test_ask_fix_typo_is_answered_by_the_fixer_offline(tmp_path):
    source = tmp_path / "greet.py"
    source.write_text(SOURCE, encoding="utf-8")
    env = {"MODELROUTER_RULES": str(offline_rules(tmp_path)), "HOME": str(tmp_path)}
    args = ("ask", "--file", str(source), "--range", "2:2", "fix the typo in the greeting")
    result = run_modelrouter(*args, "--json", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout)
    assert outcome["backend"] == "typos" and outcome["fixer"] is True
    assert outcome["cost_usd"] == 0
    assert [a["backend"] for a in outcome["attempts"]] == ["typos"]
    assert '    return "Hello, " + name\n' in outcome["text"]
    assert source.read_text(encoding="utf-8") == SOURCE  # the user's file is never touched

    stats = run_modelrouter("stats", "--json", env=env, cwd=tmp_path)
    assert stats.returncode == 0, stats.stderr
    assert '"typos"' in stats.stdout


def test_ask_without_a_fixer_word_goes_to_the_models(tmp_path):
    source = tmp_path / "greet.py"
    source.write_text(SOURCE, encoding="utf-8")
    env = {"MODELROUTER_RULES": str(offline_rules(tmp_path)), "HOME": str(tmp_path)}
    args = ("ask", "--tier", "trivial", "--file", str(source), "--range", "2:2", "explain this")
    result = run_modelrouter(*args, "--json", env=env, cwd=tmp_path)
    # The one backend refused the connection: the request failed there, not in a fixer.
    assert result.returncode == 1
    assert "typos" not in result.stdout + result.stderr
    assert "local" in result.stderr


def test_doctor_reports_each_fixer_with_its_version(tmp_path):
    env = {"MODELROUTER_RULES": str(offline_rules(tmp_path)), "HOME": str(tmp_path)}
    result = run_modelrouter("doctor", "--no-probe", "--json", env=env, cwd=tmp_path)
    fixers = {f["name"]: f for f in json.loads(result.stdout)["fixers"]}
    assert set(fixers) == {"typos", "ruff-format", "ruff-imports"}
    assert all(f["found"] and f["version"] for f in fixers.values()), fixers
    assert fixers["typos"]["version"].startswith("typos ")


def test_a_fixer_answer_that_fails_a_check_is_not_given_and_the_models_are_asked(tmp_path):
    source = tmp_path / "greet.py"
    source.write_text(SOURCE, encoding="utf-8")
    rules = offline_rules(tmp_path)
    # A fixer that "fixes" the greeting and misspells the name it returns (undefined).
    script = "import sys; open(sys.argv[1], 'w').write('    return \"Hello, \" + nmae\\n')"
    command = json.dumps([sys.executable, "-c", script, "{file}"])
    rules.write_text(
        rules.read_text(encoding="utf-8")
        + f"fixers:\n  typos:\n    command: {command}\n    requests: [typo]\n",
        encoding="utf-8",
    )
    env = {"MODELROUTER_RULES": str(rules), "HOME": str(tmp_path)}
    args = ("ask", "--file", str(source), "--range", "2:2", "fix the typo in the greeting")
    result = run_modelrouter(*args, env=env, cwd=tmp_path)
    # The fixer's answer failed ruff's undefined-name check; the one model is unreachable.
    assert "the typos fixer's answer" in result.stderr and "nmae" in result.stderr, result.stderr
    assert result.returncode == 1
    assert "nmae" not in result.stdout
    assert source.read_text(encoding="utf-8") == SOURCE
