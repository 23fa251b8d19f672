"""`modelrouter run -- CMD [ARGS…]`: run a command with its API base URLs at the proxy.

Uses the proxy already listening on 127.0.0.1:8082 when there is one; otherwise starts one
on a free loopback port for the command's lifetime. The command gets
`ANTHROPIC_BASE_URL` and `OPENAI_BASE_URL` pointing at it; its exit code is returned.
Codex ignores `OPENAI_BASE_URL` for custom providers, so a `codex` command also gets `-c`
overrides naming the proxy as its Responses provider: nothing is written to `~/.codex`.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import httpx

from modelrouter.commands.route import load_or_report


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add this command's arguments."""
    parser.add_argument("argv", nargs=argparse.REMAINDER, help="the command and its arguments")


def running_proxy(host: str = "127.0.0.1", port: int = 8082) -> str | None:
    """The URL of a ModelRouter proxy already listening there, or None."""
    url = f"http://{host}:{port}"
    try:
        reply = httpx.get(f"{url}/healthz", timeout=0.5)
        body = reply.json() if reply.status_code == 200 else None
    except (httpx.HTTPError, ValueError):
        return None
    # Another program on the port may answer anything: only our own reply counts.
    if isinstance(body, dict) and body.get("service") == "modelrouter":
        return url
    return None


def environment(url: str) -> dict[str, str]:
    """The command's environment: ours plus the base URLs of both wire formats."""
    env = dict(os.environ)
    env["ANTHROPIC_BASE_URL"] = url
    env["OPENAI_BASE_URL"] = f"{url}/v1"
    env.setdefault(CODEX_KEY_ENV, os.environ.get("MODELROUTER_PROXY_KEY") or "modelrouter")
    return env


# The environment variable Codex reads the proxy key from (any value when the proxy has none).
CODEX_KEY_ENV = "MODELROUTER_CODEX_KEY"


def codex_overrides(url: str) -> list[str]:
    """Codex `-c` options that make the proxy its model provider for this run only."""
    provider = "model_providers.modelrouter"
    settings = {
        f"{provider}.name": '"ModelRouter"',
        f"{provider}.base_url": f'"{url}/v1"',
        f"{provider}.wire_api": '"responses"',
        f"{provider}.env_key": f'"{CODEX_KEY_ENV}"',
        "model_provider": '"modelrouter"',
        "model": '"modelrouter/auto"',  # a `-m` on the command line still wins
    }
    return [arg for key, value in settings.items() for arg in ("-c", f"{key}={value}")]


def command_line(argv: list[str], url: str) -> list[str]:
    """`argv` with the options its agent needs to use the proxy at `url` (Codex only)."""
    if Path(argv[0]).name in ("codex", "codex.exe", "codex.cmd"):
        return [argv[0], *codex_overrides(url), *argv[1:]]
    return argv


def run_with_proxy(argv: list[str], rules_path: str | None, name: str) -> int:
    """Run `argv` against the running proxy or a fresh one; stop ours when it exits."""
    if not argv:
        print(f"modelrouter {name}: give the command to run", file=sys.stderr)
        return 2
    url = running_proxy()
    proxy = None
    if url is None:
        rules = load_or_report(rules_path)
        if rules is None:
            return 2
        from modelrouter.proxy.server import BackgroundProxy, build, key_from

        proxy = BackgroundProxy(build(rules, key_from(None))).start()
        url = proxy.url
    try:
        return subprocess.call(command_line(argv, url), env=environment(url))
    except FileNotFoundError:
        print(f"modelrouter {name}: command not found: {argv[0]}", file=sys.stderr)
        return 127
    except KeyboardInterrupt:
        return 130
    finally:
        if proxy is not None:
            proxy.stop()


def run(args: argparse.Namespace) -> int:
    """Run the command; returns the exit code."""
    argv = list(args.argv)
    if argv[:1] == ["--"]:
        argv = argv[1:]
    return run_with_proxy(argv, args.rules, "run")
