"""`textDocument/codeAction` latency on a 10,000-line file, as a client sees it over stdio.

Target: under 2 ms median. Run: python bench/codeaction.py [--requests N] [--lines N]
The server runs with the shipped default rules; listing never calls a model, so no
provider needs to be reachable.
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from lsp_wire import frame, read_message


class Client:
    """Just enough JSON-RPC over the server's stdio to time requests."""

    def __init__(self, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "modelrouter", "lsp"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        self.next_id = 0

    def send(self, method: str, params: object, *, request: bool = True) -> int | None:
        msg: dict = {"jsonrpc": "2.0", "method": method, "params": params}
        if request:
            self.next_id += 1
            msg["id"] = self.next_id
        assert self.proc.stdin
        self.proc.stdin.write(frame(msg))
        self.proc.stdin.flush()
        return msg.get("id")

    def read(self) -> dict:
        assert self.proc.stdout
        return read_message(self.proc.stdout)

    def request(self, method: str, params: object) -> dict:
        msg_id = self.send(method, params)
        while True:
            msg = self.read()
            if msg.get("id") == msg_id and "method" not in msg:
                return msg
            if "method" in msg and "id" in msg:  # a server->client request: answer null
                self.proc.stdin.write(frame({"jsonrpc": "2.0", "id": msg["id"], "result": None}))
                self.proc.stdin.flush()

    def close(self) -> None:
        self.request("shutdown", None)
        self.send("exit", None, request=False)
        self.proc.wait(timeout=5)


def source(lines: int) -> str:
    """A plausible Python module of about `lines` lines."""
    out = ["import os\nimport sys\n\n\n"]
    i = 0
    while sum(chunk.count("\n") for chunk in out) < lines:
        out.append(
            f"def function_{i}(value, other=None):\n"
            f'    """Compute something for item {i}."""\n'
            f"    if other is None:\n"
            f"        other = value * {i}\n"
            f"    return value + other\n\n\n"
        )
        i += 1
    return "".join(out)


def in_process(text: str, requests: int, data_dir: str) -> list[float]:
    """Seconds per call of the code-action handler itself (no transport), same file."""
    from lsprotocol import types
    from modelrouter.lsp.app import create_server
    from modelrouter.lsp.handlers import list_code_actions
    from pygls.workspace import Workspace

    os.environ["MODELROUTER_DATA_DIR"] = data_dir
    # No client is connected in process: status notifications have nowhere to go.
    logging.getLogger("pygls").setLevel(logging.CRITICAL)
    ls = create_server()
    root = Path(data_dir)
    ls.protocol._workspace = Workspace(root.as_uri())
    ls.protocol.client_capabilities = types.ClientCapabilities(
        text_document=types.TextDocumentClientCapabilities(
            code_action=types.CodeActionClientCapabilities(disabled_support=True)
        )
    )
    uri = (root / "big.py").as_uri()
    ls.workspace.put_text_document(
        types.TextDocumentItem(uri=uri, language_id="python", version=1, text=text)
    )
    ls.ensure_rules()
    n_lines = text.count("\n")
    rng = random.Random(5)
    times = []
    for i in range(requests + 50):
        line = rng.randrange(n_lines - 5)
        params = types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=types.Range(start=types.Position(line, 0), end=types.Position(line + 3, 0)),
            context=types.CodeActionContext(diagnostics=[]),
        )
        start = time.perf_counter()
        list_code_actions(ls, params)
        if i >= 50:
            times.append(time.perf_counter() - start)
    return sorted(times)


def main() -> None:
    """Print median, p99 and max of code-action round trips."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--lines", type=int, default=10_000)
    args = parser.parse_args()
    text = source(args.lines)
    n_lines = text.count("\n")
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(
            os.environ, MODELROUTER_DATA_DIR=tmp, GEMINI_API_KEY="bench", ANTHROPIC_API_KEY="bench"
        )
        env.pop("MODELROUTER_RULES", None)
        client = Client(env)
        caps = {
            "textDocument": {
                "codeAction": {
                    "disabledSupport": True,
                    "dataSupport": True,
                    "resolveSupport": {"properties": ["command"]},
                    "codeActionLiteralSupport": {
                        "codeActionKind": {"valueSet": ["", "quickfix", "refactor", "source"]}
                    },
                }
            }
        }
        client.request(
            "initialize",
            {"processId": os.getpid(), "rootUri": Path(tmp).as_uri(), "capabilities": caps},
        )
        client.send("initialized", {}, request=False)
        uri = (Path(tmp) / "big.py").as_uri()
        client.send(
            "textDocument/didOpen",
            {"textDocument": {"uri": uri, "languageId": "python", "version": 1, "text": text}},
            request=False,
        )
        rng = random.Random(4)
        diag = {
            "range": {"start": {"line": 10, "character": 0}, "end": {"line": 10, "character": 5}},
            "message": "undefined name 'x'",
            "severity": 1,
        }

        def params() -> dict:
            line = rng.randrange(n_lines - 5)
            return {
                "textDocument": {"uri": uri},
                "range": {
                    "start": {"line": line, "character": 0},
                    "end": {"line": line + 3, "character": 0},
                },
                "context": {"diagnostics": [diag] if rng.random() < 0.3 else []},
            }

        for _ in range(50):  # warm-up (lazy imports, caches)
            first = client.request("textDocument/codeAction", params())
        count = len(first.get("result") or [])
        times = []
        for _ in range(args.requests):
            p = params()
            start = time.perf_counter()
            client.request("textDocument/codeAction", p)
            times.append(time.perf_counter() - start)
        client.close()
    times.sort()
    median = statistics.median(times) * 1000
    p99 = times[int(len(times) * 0.99) - 1] * 1000
    print(f"file: {n_lines} lines; {args.requests} code-action requests; {count} actions each")
    print(
        f"round trip over stdio: median {median:.3f} ms  p99 {p99:.3f} ms"
        f"  max {times[-1] * 1000:.3f} ms"
    )
    print(f"target: median under 2 ms  ->  {median / 2:.2f}× the target")
    with tempfile.TemporaryDirectory() as tmp:
        inner = in_process(text, args.requests, tmp)
    print(
        f"handler alone (in process):  median {statistics.median(inner) * 1e6:.0f} µs"
        f"  p99 {inner[int(len(inner) * 0.99) - 1] * 1e6:.0f} µs"
    )


if __name__ == "__main__":
    main()
