"""The cli backend runs tools safely: argv only, prompt on stdin, allow-listed env, caps."""

from __future__ import annotations

import asyncio
import os
import sys

import pytest
from modelrouter.backends import make_backend
from modelrouter.backends.base import BackendError, Message, StreamDone, TextDelta
from modelrouter.config import Timeouts
from modelrouter.engine import Engine, EngineError, Job
from support.fakes.rules import backend, rules_with

PY = sys.executable


def tool(script: str, **kw) -> object:
    """A cli backend running `script` with this Python."""
    return backend("tool", "cli", command=(PY, "-c", script, *kw.pop("extra_args", ())), **kw)


async def collect(cfg, messages: list[Message]) -> tuple[str, StreamDone | None]:
    parts: list[str] = []
    done = None
    async for event in make_backend(cfg, None).stream(messages):  # type: ignore[arg-type]
        if isinstance(event, TextDelta):
            parts.append(event.text)
        else:
            done = event
    return "".join(parts), done


async def test_prompt_goes_on_stdin_and_arguments_are_never_shell_parsed(tmp_path) -> None:
    marker = tmp_path / "pwned"
    hostile = f"; touch {marker} && echo $(id) `id`"
    cfg = tool(
        "import sys; print(repr(sys.argv[1:])); print(sys.stdin.read().upper())",
        extra_args=(hostile,),
    )
    text, done = await collect(cfg, [Message("user", "hello from stdin $(id)")])
    assert repr([hostile]) in text  # the argument arrived verbatim, unexpanded
    assert "HELLO FROM STDIN $(ID)" in text
    assert not marker.exists()
    assert done is not None and done.usage.estimated


async def test_environment_is_an_allow_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MR_OTHER_PROVIDER_KEY", "other-key-value")
    monkeypatch.setenv("MR_TOOL_KEY", "tool-key-value")
    monkeypatch.setenv("MR_ALLOWED", "allowed-value")
    cfg = tool(
        "import os, json; print(json.dumps(dict(os.environ)))",
        api_key_env="MR_TOOL_KEY",
        env_allow=("MR_ALLOWED",),
    )
    text, _ = await collect(cfg, [Message("user", "x")])
    assert "other-key-value" not in text
    assert "tool-key-value" in text  # its own key only
    assert "allowed-value" in text
    assert "PATH" in text


async def test_output_is_capped() -> None:
    cfg = tool(
        "import sys\nwhile True: sys.stdout.write('x' * 65536); sys.stdout.flush()",
        max_output_bytes=200_000,
    )
    with pytest.raises(BackendError) as caught:
        await collect(cfg, [Message("user", "x")])
    assert caught.value.kind == "process"
    assert "200000 bytes" in str(caught.value)


async def test_time_is_capped_and_the_process_is_killed(tmp_path) -> None:
    pid_file = tmp_path / "pid"
    cfg = tool(
        f"import os, time; open({str(pid_file)!r}, 'w').write(str(os.getpid())); time.sleep(60)",
        timeouts=Timeouts(connect=1.0, first_byte=1.0, total=2.0),
    )
    async with Engine(rules_with(cfg)) as engine:
        with pytest.raises(EngineError) as caught:
            await engine.run(Job([Message("user", "x")], tier="feature"))
    assert "timeout" in caught.value.attempts[0].outcome
    pid = int(pid_file.read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


async def test_a_large_prompt_does_not_deadlock_a_chatty_tool() -> None:
    # The tool writes a lot before it reads stdin; both pipes fill unless fed concurrently.
    cfg = tool(
        "import sys; sys.stdout.write('y' * 300_000); sys.stdout.flush(); "
        "print(len(sys.stdin.read()))",
        timeouts=Timeouts(connect=1.0, first_byte=20.0, total=20.0),
    )
    big = "z" * 2_000_000
    text, _ = await asyncio.wait_for(collect(cfg, [Message("user", big)]), 30)
    assert text.startswith("y" * 1000)
    assert int(text[300_000:].strip()) >= len(big)


async def test_errors_never_echo_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    key = "sk-proj-" + "Ab3dE6gH9jK2mN5pQ8sT1vW4yZ7" * 2
    monkeypatch.setenv("MR_TOOL_KEY", key)
    cfg = tool(
        "import os, sys; sys.stderr.write('bad key ' + os.environ['MR_TOOL_KEY']); sys.exit(3)",
        api_key_env="MR_TOOL_KEY",
    )
    with pytest.raises(BackendError) as caught:
        await collect(cfg, [Message("user", "x")])
    assert caught.value.kind == "process"
    assert "status 3" in str(caught.value)
    assert key not in str(caught.value)
    assert "bad key [redacted]" in str(caught.value)


async def test_missing_command_is_a_clear_error(tmp_path) -> None:
    cfg = backend("tool", "cli", command=(str(tmp_path / "no-such-tool"),))
    with pytest.raises(BackendError) as caught:
        await collect(cfg, [Message("user", "x")])
    assert caught.value.kind == "unavailable"
    assert "no-such-tool" in str(caught.value)
