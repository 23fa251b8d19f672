"""A cli tool that leaves a child behind holding its stdout: the answer is complete when the
tool exits, whatever it left running is killed, and nothing is printed about a closed event
loop."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from modelrouter.backends.base import Message
from modelrouter.config import Timeouts
from modelrouter.engine import Engine, Job
from support.fakes.rules import backend, rules_with

PY = sys.executable


def _tool_script(pidfile: Path, detach: bool) -> str:
    # The child inherits stdout and stderr and sleeps; the tool prints its answer and exits.
    return textwrap.dedent(f"""\
        import subprocess, sys
        sys.stdin.read()
        child = subprocess.Popen(
            [{PY!r}, "-c", "import time; time.sleep(120)"], start_new_session={detach!r}
        )
        open({str(pidfile)!r}, "w").write(str(child.pid))
        print("the complete answer", flush=True)
        """)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A killed child of a finished tool is a zombie until init reaps it.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


def _wait_dead(pid: int, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("detach", [False, True], ids=["same-group", "own-session"])
async def test_answer_finishes_when_the_tool_exits_and_leftovers_are_killed(tmp_path, detach):
    pidfile = tmp_path / "child.pid"
    cfg = backend(
        "tool",
        "cli",
        command=(PY, "-c", _tool_script(pidfile, detach)),
        timeouts=Timeouts(connect=2.0, first_byte=30.0, total=30.0),
    )
    started = time.monotonic()
    async with Engine(rules_with(cfg)) as engine:
        outcome = await engine.run(Job([Message("user", "hi")], tier="feature"))
    took = time.monotonic() - started
    assert outcome.text == "the complete answer\n"
    assert took < 30.0  # before the total timeout, which is where it used to end
    assert _wait_dead(int(pidfile.read_text()))


def test_ask_with_such_a_tool_prints_the_answer_and_no_traceback(tmp_path):
    pidfile = tmp_path / "child.pid"
    script = tmp_path / "tool.py"
    script.write_text(_tool_script(pidfile, True))
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        textwrap.dedent(f"""\
        version: 1
        backends:
          tool:
            type: cli
            command: [{PY!r}, {str(script)!r}]
            timeouts: {{first_byte: 30, total: 30}}
        tiers:
          feature: [tool]
        default_tier: feature
        """)
    )
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "MODELROUTER_DATA_DIR": str(tmp_path)}
    if "PYTHONPATH" in os.environ:  # the code under test, when not installed
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    proc = subprocess.run(
        [PY, "-m", "modelrouter", "ask", "hello", "--rules", str(rules)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "the complete answer\n"
    assert "Event loop is closed" not in proc.stderr and "Traceback" not in proc.stderr
    assert _wait_dead(int(pidfile.read_text()))
