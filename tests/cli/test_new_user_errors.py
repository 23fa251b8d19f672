"""What a new user trips on gets a clear message: empty requests are refused, bad arguments
say what is wrong, `doctor` fails when nothing can answer, errors name a backend once and a
refused key by its variable, `ask --json` prints only the object, `lsp` on a terminal says
what it is, and `rules check` / `eval` point at the exact problem."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import yaml
from modelrouter.backends.base import Message
from modelrouter.engine import Engine, EngineError, Job
from modelrouter.rules import check_rules
from support.cli import ask_rules, run_modelrouter
from support.fakes.provider import Reply
from support.fakes.rules import backend, rules_with
from support.lsp import editor_session, lines_range_json


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("request_text", ["", "   ", "\n\t"])
def test_ask_refuses_an_empty_request_and_sends_nothing(tmp_path, fake_provider, request_text):
    result = run_modelrouter(
        "ask",
        request_text,
        "--rules",
        ask_rules(tmp_path, fake_provider),
        env={"HOME": "/tmp"},
    )
    assert result.returncode == 2
    assert "the request is empty" in result.stderr
    assert "Traceback" not in result.stderr
    assert fake_provider.requests == []


def test_route_refuses_an_empty_request(tmp_path, fake_provider):
    result = run_modelrouter(
        "route", " ", "--rules", ask_rules(tmp_path, fake_provider), env={"HOME": "/tmp"}
    )
    assert result.returncode == 2
    assert "the request is empty" in result.stderr


async def test_an_auto_action_with_nothing_to_route_is_refused(tmp_path, fake_provider):
    async with editor_session(tmp_path, fake_provider) as editor:
        rules = tmp_path / "rules.yaml"
        doc = yaml.safe_load(rules.read_text())
        doc["actions"]["route-it"] = {"title": "Route it", "tier": "auto", "prompt": "Do it."}
        rules.write_text(yaml.safe_dump(doc))
        uri = editor.open("app.py", "x = 1\n\n\ny = 2\n")
        for action, instruction in (("route-it", None), ("ask", "   ")):
            args = {"action": action, "uri": uri, "range": lines_range_json(1, 2)}
            if instruction is not None:
                args["instruction"] = instruction
            result = await editor.execute("modelrouter.run", args)
            assert result["applied"] is False, result
            assert (
                "nothing to do" in result["message"]
                or "needs an instruction" in (result["message"])
            )
    assert fake_provider.requests == []


@pytest.mark.parametrize("since", ["banana", 7, "7 parsecs"])
async def test_lsp_stats_with_a_bad_period_is_a_clear_error(tmp_path, fake_provider, since):
    async with editor_session(tmp_path, fake_provider) as editor:
        with pytest.raises(Exception) as caught:
            await editor.execute("modelrouter.stats", {"since": since})
        ok = await editor.execute("modelrouter.stats", {"since": "7d"})
    message = str(caught.value)
    assert "cannot read the period" in message and "7d, 24h" in message
    assert "ValueError" not in message and "Traceback" not in message
    assert ok["requests"] == 0  # the server carries on


def test_doctor_fails_when_no_tier_has_a_usable_backend(tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        textwrap.dedent("""\
        version: 1
        backends:
          cloud: {type: anthropic, model: m, api_key_env: MODELROUTER_TEST_KEY_NEVER_SET}
        tiers:
          feature: [cloud]
        default_tier: feature
        """)
    )
    result = run_modelrouter("doctor", "--no-probe", "--rules", str(rules), env={"HOME": "/tmp"})
    assert result.returncode == 1
    assert "no tier has a usable backend" in result.stderr
    usable = run_modelrouter(
        "doctor",
        "--no-probe",
        "--rules",
        str(rules),
        env={"HOME": "/tmp", "MODELROUTER_TEST_KEY_NEVER_SET": "k"},
    )
    assert usable.returncode == 0, usable.stderr


async def test_errors_name_the_backend_once(fake_provider):
    rules = rules_with(
        backend("local", "ollama", f"http://127.0.0.1:{_closed_port()}"),
        backend("other", "openai", f"http://127.0.0.1:{_closed_port()}"),
    )
    async with Engine(rules) as engine:
        with pytest.raises(EngineError) as caught:
            await engine.run(Job([Message("user", "hi")], tier="feature"))
    message = caught.value.message
    assert "local: local:" not in message and "other: other:" not in message
    assert "local: cannot connect" in message
    assert all(not (a.error or "").startswith(f"{a.backend}:") for a in caught.value.attempts)


async def test_a_refused_key_names_the_variable_to_check(fake_provider, monkeypatch):
    monkeypatch.setenv("MY_PROVIDER_KEY", "wrong-key-1234")
    fake_provider.default("primary", Reply(status=401))
    rules = rules_with(
        backend(
            "primary",
            "anthropic",
            fake_provider.base_url("anthropic", "primary"),
            api_key_env="MY_PROVIDER_KEY",
        ),
        backend("fallback", "openai", fake_provider.base_url("openai", "fallback")),
    )
    async with Engine(rules) as engine:
        with pytest.raises(EngineError) as caught:
            await engine.run(Job([Message("user", "hi")], tier="feature"))
    headline = caught.value.message.splitlines()[0]
    assert "MY_PROVIDER_KEY" in headline and "401" in headline
    assert "could answer" not in headline
    assert "wrong-key-1234" not in caught.value.message


def test_ask_json_prints_only_the_object(tmp_path, fake_provider):
    fake_provider.default("primary", Reply(text="hello", input_tokens=10, output_tokens=2))
    result = run_modelrouter(
        "ask",
        "hi",
        "--json",
        "--rules",
        ask_rules(tmp_path, fake_provider),
        env={"HOME": "/tmp"},
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["text"] == "hello" and data["backend"] == "primary"
    assert result.stderr == ""


def test_lsp_typed_in_a_terminal_prints_a_hint(tmp_path):
    leader, follower = os.openpty()
    env = {
        "PATH": "/usr/bin:/bin",
        "MODELROUTER_DATA_DIR": str(tmp_path),
        "HOME": str(tmp_path),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "modelrouter", "lsp"],
        stdin=follower,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
    )
    os.close(follower)
    try:
        deadline = time.monotonic() + 30
        line = b""
        while not line.endswith(b"\n") and time.monotonic() < deadline:
            chunk = proc.stderr.read1(200) if proc.stderr else b""
            if not chunk:
                break
            line += chunk
    finally:
        proc.kill()
        proc.wait()
        os.close(leader)
    assert b"language server" in line and b"from your editor" in line


def _child(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "rules.yaml"
    path.write_text("version: 1\nextends: default\n" + textwrap.dedent(body))
    return path


def test_rules_check_numbers_the_routes_of_the_file_itself(tmp_path):
    path = _child(
        tmp_path,
        """\
        routes:
          - {tier: trivial, patterns: [typo]}
          - {tier: nonsense, patterns: [x]}
        """,
    )
    (problem,) = check_rules(path)
    assert "in route 2" in problem.message
    assert problem.file == str(path)


def test_rules_check_suggests_a_backend_type(tmp_path):
    path = _child(tmp_path, "backends:\n  mine: {type: anthropc, model: m}\n")
    (problem,) = check_rules(path)
    assert "unknown backend type 'anthropc'" in problem.message
    assert problem.hint == "did you mean 'anthropic'?"


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("rule_confidence", 1.5),
        ("escalate_below", -2),
        ("llm_router_below", 7),
        ("rule_confidence", ".nan"),
        ("llm_router_timeout", 0),
    ],
)
def test_rules_check_rejects_out_of_range_confidences(tmp_path, setting, value):
    path = _child(tmp_path, f"classifier:\n  {setting}: {value}\n")
    (problem,) = check_rules(path)
    assert f"classifier.{setting} must be" in problem.message
    assert problem.line == 4


def test_eval_line_without_a_tier_names_the_line(tmp_path):
    data = tmp_path / "set.jsonl"
    data.write_text('{"prompt": "fix typo", "tier": "trivial"}\n{"prompt": "no label"}\n')
    result = subprocess.run(
        [sys.executable, "-m", "modelrouter", "eval", str(data)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert f'{data}:2:1: no "tier" label' in result.stderr
    assert "None" not in result.stderr
