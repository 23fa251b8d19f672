"""The `cli` backend: argv without a shell, prompt on stdin, streamed stdout, clear failures."""

from __future__ import annotations

import os
import sys

import pytest
from modelrouter.backends.base import BackendError, Message, StreamDone, TextDelta
from modelrouter.backends.cli import CliBackend
from modelrouter.config import Timeouts
from modelrouter.engine import Engine, Job
from support.fakes.rules import backend, rules_with


def _cli(script: str, **kw):
    return backend("tool", "cli", command=(sys.executable, "-c", script), **kw)


async def _run(cfg, messages):
    events = [e async for e in CliBackend(cfg).stream(messages)]
    text = "".join(e.text for e in events if isinstance(e, TextDelta))
    return text, events[-1]


async def test_prompt_goes_to_stdin_and_stdout_streams_back():
    script = (
        "import sys\n"
        "data = sys.stdin.read()\n"
        "for word in ('got:', data.upper()):\n"
        "    sys.stdout.write(word); sys.stdout.flush()\n"
    )
    text, done = await _run(_cli(script), [Message("system", "rules"), Message("user", "hi $HOME")])
    assert text == "got:RULES\n\nHI $HOME"  # `$HOME` untouched: no shell in between
    assert isinstance(done, StreamDone)
    assert done.usage.estimated and done.usage.output_tokens > 0


async def test_non_zero_exit_is_a_clear_process_error():
    script = "import sys; print('boom: bad flag', file=sys.stderr); sys.exit(3)"
    with pytest.raises(BackendError) as info:
        await _run(_cli(script), [Message("user", "x")])
    assert info.value.kind == "process"
    assert "exited with status 3" in str(info.value)
    assert "boom: bad flag" in str(info.value)


async def test_output_over_the_cap_stops_the_tool():
    script = "import sys\nwhile True: sys.stdout.write('y' * 1000)"
    with pytest.raises(BackendError) as info:
        await _run(_cli(script, max_output_bytes=20_000), [Message("user", "x")])
    assert info.value.kind == "process"
    assert "exceeded 20000 bytes" in str(info.value)


async def test_only_allow_listed_environment_reaches_the_tool(monkeypatch):
    monkeypatch.setenv("OTHER_PROVIDER_KEY", "sk-must-not-leak")
    monkeypatch.setenv("TOOL_HOME", "/opt/tool")
    monkeypatch.setenv("TOOL_KEY", "tool-secret")
    script = "import os; print(' '.join(sorted(os.environ)))"
    cfg = _cli(script, env_allow=("TOOL_HOME",), api_key_env="TOOL_KEY")
    text, _ = await _run(cfg, [Message("user", "x")])
    names = set(text.split())
    assert {"TOOL_HOME", "TOOL_KEY", "PATH"} <= names
    assert "OTHER_PROVIDER_KEY" not in names


async def test_missing_executable_is_reported_not_raised_raw():
    cfg = backend("tool", "cli", command=("/nonexistent/tool-xyz", "exec"))
    with pytest.raises(BackendError) as info:
        await _run(cfg, [Message("user", "x")])
    assert info.value.kind == "unavailable"
    assert "/nonexistent/tool-xyz" in str(info.value)


async def test_failed_tool_falls_back_to_the_next_backend():
    broken = _cli("import sys; sys.stdout.write('half an answer'); sys.exit(1)")
    good = backend("good", "cli", command=(sys.executable, "-c", "print('whole answer')"))
    async with Engine(rules_with(broken, good)) as engine:
        outcome = await engine.run(Job(messages=[Message("user", "x")], tier="feature"))
    assert outcome.text == "whole answer\n"
    assert [a.outcome for a in outcome.attempts] == ["process", "ok"]


async def test_silent_tool_times_out_is_killed_and_the_next_backend_answers(tmp_path):
    pid_file = tmp_path / "pid"
    script = (
        f"import os, time; open({str(pid_file)!r}, 'w').write(str(os.getpid())); time.sleep(60)"
    )
    silent = _cli(script, timeouts=Timeouts(connect=1, first_byte=0.5, total=5))
    good = backend("good", "cli", command=(sys.executable, "-c", "print('in time')"))
    async with Engine(rules_with(silent, good)) as engine:
        outcome = await engine.run(Job(messages=[Message("user", "x")], tier="feature"))
    assert outcome.text == "in time\n"
    assert outcome.attempts[0].outcome == "timeout"
    with pytest.raises(ProcessLookupError):
        os.kill(int(pid_file.read_text()), 0)
