"""The proxy keeps the engine's guarantees for agents: files under `local_only` named by tool
calls keep the task on local backends, thinking reaches only Anthropic, text-only backends
are skipped for tool requests with the reason, and a client that hangs up stops the
upstream call."""

from __future__ import annotations

import json
import time

import httpx
import pytest
from modelrouter.ledger import default_path, read_entries
from support.fakes.provider import Reply
from support.proxy import proxy_rules, running_proxy

READ = {"name": "Read", "input_schema": {"type": "object"}}
BASH = {"name": "Bash", "input_schema": {"type": "object"}}


def _ask(fake_provider, model: str, tools: list[dict], messages: list[dict]) -> httpx.Response:
    """One Messages request through a proxy over `proxy_rules`."""
    with running_proxy(proxy_rules(fake_provider)) as proxy:
        return httpx.post(
            f"{proxy.url}/v1/messages",
            json={"model": model, "max_tokens": 50, "tools": tools, "messages": messages},
            timeout=60,
        )


def _read_env_transcript() -> list[dict]:
    return [
        {"role": "user", "content": "rename the variable in .env"},
        {
            "role": "assistant",
            "content": [
                {
                    "type": "tool_use",
                    "id": "toolu_1",
                    "name": "Read",
                    "input": {"file_path": "/w/.env"},
                }
            ],
        },
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "K=v"}],
        },
    ]


def test_a_local_only_file_in_a_tool_call_keeps_the_task_local(fake_provider):
    fake_provider.default("spare", Reply(text="done locally"))
    reply = _ask(fake_provider, "modelrouter/trivial", [READ], _read_env_transcript())
    assert reply.status_code == 200, reply.text
    assert reply.headers["x-modelrouter-backend"] == "spare"
    assert fake_provider.requests_to("cheap") == []


def _bash_transcript(command: str) -> list[dict]:
    call = {"type": "tool_use", "id": "toolu_2", "name": "Bash", "input": {"command": command}}
    result = {"type": "tool_result", "tool_use_id": "toolu_2", "content": "ok"}
    return [
        {"role": "user", "content": "rename the setting"},
        {"role": "assistant", "content": [call]},
        {"role": "user", "content": [result]},
    ]


@pytest.mark.parametrize(
    "command",
    [
        "cat .env",
        "sed -i 's/A=1/A=2/' config/.env.prod",
        "echo k > secrets/token.txt",
        "cp server.pem /tmp/x && ls",
    ],
)
def test_a_local_only_file_named_in_a_shell_command_keeps_the_task_local(fake_provider, command):
    fake_provider.default("spare", Reply(text="done locally"))
    reply = _ask(fake_provider, "modelrouter/trivial", [BASH], _bash_transcript(command))
    assert reply.status_code == 200, reply.text
    assert reply.headers["x-modelrouter-backend"] == "spare"
    assert fake_provider.requests_to("cheap") == []


def test_a_shell_command_naming_no_protected_file_may_leave(fake_provider):
    fake_provider.default("cheap", Reply(text="renamed"))
    reply = _ask(
        fake_provider,
        "modelrouter/trivial",
        [BASH],
        _bash_transcript("git diff -- src/env.py && ls -la"),
    )
    assert reply.status_code == 200, reply.text
    assert reply.headers["x-modelrouter-backend"] == "cheap"


@pytest.mark.parametrize(
    ("tool", "arguments"),
    [
        ("exec_command", {"cmd": "grep -n KEY deploy/.env.staging"}),
        ("apply_patch", {"input": "*** Begin Patch\n*** Update File: app/.env\n@@\n-A=1\n"
                                  "+A=2\n*** End Patch\n"}),
    ],
)  # fmt: skip
def test_a_codex_tool_call_on_a_local_only_file_keeps_the_task_local(
    fake_provider, tool, arguments
):
    fake_provider.default("spare", Reply(text="done locally"))
    function = {"type": "function", "name": tool, "parameters": {"type": "object"}}
    items = [
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "fix it"}]},
        {"type": "function_call", "call_id": "c1", "name": tool,
         "arguments": json.dumps(arguments)},
        {"type": "function_call_output", "call_id": "c1", "output": "done"},
    ]  # fmt: skip
    with running_proxy(proxy_rules(fake_provider)) as proxy:
        reply = httpx.post(
            f"{proxy.url}/v1/responses",
            json={"model": "modelrouter/trivial", "input": items, "tools": [function],
                  "store": False},
            timeout=30,
        )  # fmt: skip
    assert reply.status_code == 200, reply.text
    assert reply.headers["x-modelrouter-backend"] == "spare"
    assert fake_provider.requests_to("cheap") == []


def test_a_long_session_is_checked_whole_and_off_the_event_loop(fake_provider, monkeypatch):
    import threading

    from modelrouter.proxy import app

    threads: set[str] = set()
    checked = app.local_only_reason

    def watched(*args, **kwargs):
        threads.add(threading.current_thread().name)
        return checked(*args, **kwargs)

    monkeypatch.setattr(app, "local_only_reason", watched)
    messages: list[dict] = [{"role": "user", "content": "tidy the project"}]
    for i in range(60):
        path = "/w/.env" if i == 59 else f"/w/src/module_{i}.py"
        call = {
            "type": "tool_use",
            "id": f"toolu_{i}",
            "name": "Read",
            "input": {"file_path": path},
        }
        result = {"type": "tool_result", "tool_use_id": f"toolu_{i}", "content": "x = 1"}
        messages += [
            {"role": "assistant", "content": [call]},
            {"role": "user", "content": [result]},
        ]
    fake_provider.default("spare", Reply(text="done locally"))
    reply = _ask(fake_provider, "modelrouter/trivial", [READ], messages)
    assert reply.status_code == 200, reply.text
    assert reply.headers["x-modelrouter-backend"] == "spare"
    assert fake_provider.requests_to("cheap") == []
    assert threads and "modelrouter-proxy" not in threads  # the loop's thread never checked


def test_a_local_only_task_with_no_local_backend_fails_closed(fake_provider):
    reply = _ask(fake_provider, "modelrouter/architecture", [READ], _read_env_transcript())
    assert reply.status_code >= 500
    assert ".env" in reply.json()["error"]["message"]
    assert fake_provider.requests_to("claude") == []


def test_thinking_is_dropped_for_other_providers(fake_provider):
    fake_provider.default("cheap", Reply(text="ok"))
    messages = [
        {"role": "user", "content": "rename a"},
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "hmm", "signature": "sig=="},
                {"type": "text", "text": "renamed"},
            ],
        },
        {"role": "user", "content": "rename b too"},
    ]
    with running_proxy(proxy_rules(fake_provider)) as proxy:
        reply = httpx.post(
            f"{proxy.url}/v1/messages",
            json={"model": "modelrouter/trivial", "max_tokens": 50, "messages": messages},
            timeout=30,
        )
    assert reply.status_code == 200
    sent = json.dumps(fake_provider.requests_to("cheap")[0].body)
    assert "hmm" not in sent and "sig==" not in sent and "renamed" in sent


def test_a_client_that_hangs_up_cancels_the_job(fake_provider):
    fake_provider.default("cheap", Reply(text="x" * 400, chunk_size=4, delay=0.02))
    with running_proxy(proxy_rules(fake_provider)) as proxy:
        body = {"model": "modelrouter/trivial", "max_tokens": 50, "stream": True,
                "messages": [{"role": "user", "content": "rename"}]}  # fmt: skip
        with httpx.stream("POST", f"{proxy.url}/v1/messages", json=body, timeout=30) as r:
            for line in r.iter_lines():
                if "text_delta" in line:
                    break
        started = time.monotonic()
        while time.monotonic() - started < 10:
            if read_entries(default_path()):
                break
            time.sleep(0.05)
        # Recorded long before the 8-second answer could have finished.
        assert time.monotonic() - started < 5
    assert [e.status for e in read_entries(default_path())] == ["cancelled"]


PIXEL = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhf"
    "DwAChwGA60e6kgAAAABJRU5ErkJggg=="
)


def test_images_reach_backends_that_take_them_in_their_format(fake_provider):
    fake_provider.default("gem", Reply(text="a red pixel"))
    source = {"type": "base64", "media_type": "image/png", "data": PIXEL}
    content = [{"type": "image", "source": source}, {"type": "text", "text": "what is this?"}]
    with running_proxy(proxy_rules(fake_provider)) as proxy:
        reply = httpx.post(
            f"{proxy.url}/v1/messages",
            json={
                "model": "gem",
                "max_tokens": 50,
                "messages": [{"role": "user", "content": content}],
            },
            timeout=30,
        )
    assert reply.status_code == 200, reply.text
    parts = fake_provider.requests_to("gem")[0].body["contents"][0]["parts"]
    assert parts[0] == {"inlineData": {"mimeType": "image/png", "data": PIXEL}}
    assert parts[1] == {"text": "what is this?"}


def test_text_only_backends_are_skipped_for_tool_requests_with_the_reason():
    from modelrouter.engine import Job, capability_reason
    from modelrouter.transcript import CallOptions, Message, Tool
    from support.fakes.rules import backend, rules_with

    cli = backend("tool", "cli", command=("cat",))
    rules_with(cli)
    job = Job([Message("user", "x")], "feature", options=CallOptions(tools=(Tool("Read"),)))
    assert capability_reason(job, cli) == "a cli backend cannot take tool calls"
    assert capability_reason(Job([Message("user", "x")], "feature"), cli) is None
