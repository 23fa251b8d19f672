"""`modelrouter ask` end to end: a real subprocess, a rules file, the fake provider."""

from __future__ import annotations

import json
import subprocess
import sys

from support.cli import ask_rules, run_modelrouter
from support.fakes.provider import Reply


def _ask(*args: str, env_extra: dict | None = None) -> subprocess.CompletedProcess:
    return run_modelrouter("ask", *args, env={"HOME": "/tmp", **(env_extra or {})})


def test_piped_output_is_only_the_final_complete_answer(tmp_path, fake_provider):
    fake_provider.default("primary", Reply(text="BROKEN-PARTIAL " * 10, chunk_size=5, cut_after=4))
    fake_provider.default(
        "fallback", Reply(text="def f():\n    return 1\n", input_tokens=40, output_tokens=9)
    )
    source = tmp_path / "code.py"
    source.write_text("a = 1\nb = 2\nc = 3\nd = 4\n")
    result = _ask(
        "implement f",
        "--rules",
        ask_rules(tmp_path, fake_provider),
        "--file",
        str(source),
        "--range",
        "2:3",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "def f():\n    return 1\n"
    assert "fallback (gpt-test)" in result.stderr
    assert "primary stream" in result.stderr and "fallback ok" in result.stderr
    assert "40 in / 9 out" in result.stderr
    sent = fake_provider.requests_to("fallback")[0].body["messages"][-1]["content"]
    assert sent.startswith("implement f")
    assert "b = 2\nc = 3" in sent and "a = 1" not in sent and "d = 4" not in sent


def test_json_output_lists_attempts_usage_and_cost(tmp_path, fake_provider):
    fake_provider.default("primary", Reply(text="hello", input_tokens=1000, output_tokens=100))
    result = _ask(
        "say hello",
        "--tier",
        "feature",
        "--json",
        "--rules",
        ask_rules(tmp_path, fake_provider),
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["text"] == "hello"
    assert data["backend"] == "primary"
    assert data["reason"] == "tier given with --tier"
    assert data["attempts"][0]["outcome"] == "ok"
    assert data["usage"] == {"input_tokens": 1000, "output_tokens": 100, "estimated": False}
    assert data["cost_usd"] == (1000 * 3 + 100 * 15) / 1e6


def test_every_backend_failing_exits_1_with_the_reasons(tmp_path, fake_provider):
    fake_provider.default("primary", Reply(status=401))
    result = _ask("hi", "--rules", ask_rules(tmp_path, fake_provider))
    assert result.returncode == 1
    assert result.stdout == ""
    assert "primary: HTTP 401 unauthorized" in result.stderr


def test_unknown_tier_and_bad_range_are_usage_errors(tmp_path, fake_provider):
    rules = ask_rules(tmp_path, fake_provider)
    bad_tier = _ask("hi", "--tier", "nope", "--rules", rules)
    assert bad_tier.returncode == 2
    assert "unknown tier 'nope'; tiers are: feature" in bad_tier.stderr
    source = tmp_path / "f.py"
    source.write_text("x\n")
    bad_range = _ask("hi", "--file", str(source), "--range", "5:9", "--rules", rules)
    assert bad_range.returncode == 2
    assert "the file has 1 line(s)" in bad_range.stderr
    assert fake_provider.requests == []


def test_a_terminal_sees_the_answer_while_it_is_still_streaming(tmp_path, fake_provider):
    import os
    import pty
    import select
    import threading

    hold = threading.Event()
    fake_provider.default(
        "primary", Reply(text="streamed-start ... the end", chunk_size=14, hold=hold)
    )
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "modelrouter",
            "ask",
            "hi",
            "--rules",
            ask_rules(tmp_path, fake_provider),
        ],
        stdout=follower,
        stderr=subprocess.PIPE,
        text=True,
        env={"PATH": "/usr/bin:/bin", "HOME": "/tmp"},
    )
    os.close(follower)
    seen = b""
    try:
        while b"streamed-start" not in seen:
            ready, _, _ = select.select([leader], [], [], 30)
            assert ready, "no output on the terminal"
            seen += os.read(leader, 1024)
        # the first part is on screen while the provider still holds back the rest
        assert proc.poll() is None
        hold.set()
        proc.wait(30)
        while select.select([leader], [], [], 0.5)[0]:
            try:
                chunk = os.read(leader, 1024)
            except OSError:  # the terminal closed with the process
                break
            if not chunk:
                break
            seen += chunk
    finally:
        hold.set()
        os.close(leader)
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0
    assert seen.replace(b"\r\n", b"\n") == b"streamed-start ... the end\n"
    assert "primary (claude-test)" in proc.stderr.read()
