"""`modelrouter serve`, `run` and `claude` as a user runs them: a real process, real signals."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time

import httpx
from modelrouter.ledger import read_entries
from support.fakes.provider import Reply

RULES = """
version: 1
backends:
  cheap: {{type: openai, base_url: "{url}", model: cheap-model}}
tiers:
  trivial: [cheap]
default_tier: trivial
classifier: {{mode: rules}}
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rules(tmp_path, fake) -> str:
    path = tmp_path / "rules.yaml"
    path.write_text(RULES.format(url=fake.base_url("openai", "cheap")))
    return str(path)


def _wait(url: str) -> None:
    for _ in range(300):
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.05)
    raise AssertionError(f"{url} never answered")


def test_sigterm_lets_an_inflight_stream_finish(fake_provider, tmp_path):
    hold = threading.Event()
    fake_provider.default("cheap", Reply(text="the whole answer", chunk_size=4, hold=hold))
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "modelrouter", "serve", "--port", str(port), "--rules",
         _rules(tmp_path, fake_provider)],
        env=os.environ.copy(),
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        _wait(f"http://127.0.0.1:{port}/healthz")
        body = {"model": "x", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
        text = []
        with httpx.stream(
            "POST", f"http://127.0.0.1:{port}/v1/chat/completions", json=body, timeout=30
        ) as response:
            lines = response.iter_lines()
            for line in lines:
                if '"content":"the ' in line:
                    break
            proc.send_signal(signal.SIGTERM)
            time.sleep(0.3)
            hold.set()
            text = [line for line in lines if line.startswith("data: ")]
        assert text[-1] == "data: [DONE]"
        # uvicorn re-raises the signal once shut down: the conventional "killed by SIGTERM".
        assert proc.wait(30) in (0, -signal.SIGTERM)
    finally:
        hold.set()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    ledger = os.path.join(os.environ["MODELROUTER_DATA_DIR"], "ledger.sqlite3")
    assert [e.status for e in read_entries(ledger)] == ["ok"]


def test_serve_refuses_a_public_address_without_a_key():
    done = subprocess.run(
        [sys.executable, "-m", "modelrouter", "serve", "--host", "0.0.0.0"],
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if k != "MODELROUTER_PROXY_KEY"},
        timeout=60,
    )
    assert done.returncode == 2
    assert "MODELROUTER_PROXY_KEY" in done.stderr


def test_run_points_the_command_at_a_proxy_and_stops_it(fake_provider, tmp_path):
    script = (
        "import os, httpx; url = os.environ['ANTHROPIC_BASE_URL'];"
        "print(url, os.environ['OPENAI_BASE_URL'], httpx.get(url + '/healthz').json()['service'])"
    )
    done = subprocess.run(
        [sys.executable, "-m", "modelrouter", "run", "--rules", _rules(tmp_path, fake_provider),
         "--", sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    anthropic_url, openai_url, service = done.stdout.split()
    assert openai_url == anthropic_url + "/v1" and service == "modelrouter"
    assert anthropic_url.startswith("http://127.0.0.1:")
    try:
        httpx.get(anthropic_url + "/healthz", timeout=1)
        raise AssertionError("the proxy outlived its command")
    except httpx.ConnectError:
        pass


def test_run_returns_the_command_exit_code(fake_provider, tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "modelrouter", "run", "--rules", _rules(tmp_path, fake_provider),
         "--", sys.executable, "-c", "raise SystemExit(7)"],
        capture_output=True,
        timeout=120,
    )  # fmt: skip
    assert done.returncode == 7
