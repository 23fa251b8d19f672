"""Server start to `initialize` response, against a bare `import pygls.lsp.server`.

Target: within 150 ms of the floor. Run: python bench/startup.py [--runs N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

from lsp_wire import frame, read_message


def server_start(env: dict[str, str]) -> float:
    """Seconds from spawning `modelrouter lsp` to reading its initialize response."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "modelrouter", "lsp"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    assert proc.stdin and proc.stdout
    init = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {"processId": os.getpid(), "rootUri": None, "capabilities": {}},
    }
    proc.stdin.write(frame(init))
    proc.stdin.flush()
    while True:
        msg = read_message(proc.stdout)
        if msg.get("id") == 1:
            break
    elapsed = time.perf_counter() - start
    proc.stdin.write(frame({"jsonrpc": "2.0", "id": 2, "method": "shutdown"}))
    proc.stdin.write(frame({"jsonrpc": "2.0", "method": "exit"}))
    proc.stdin.flush()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
    return elapsed


def floor(env: dict[str, str]) -> float:
    """Seconds for a bare `python -c "import pygls.lsp.server"`, up to the import being done
    (measured like the server: to its first output, not to interpreter teardown)."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", "import pygls.lsp.server; print('ready', flush=True)"],
        stdout=subprocess.PIPE,
        env=env,
    )
    assert proc.stdout
    proc.stdout.readline()
    elapsed = time.perf_counter() - start
    proc.wait()
    return elapsed


def main() -> None:
    """Print median and spread of both, and the difference against the target."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data:
        env = dict(os.environ, MODELROUTER_DATA_DIR=data)
        floor(env), server_start(env)  # warm the OS file cache and bytecode
        floors, starts = [], []
        for _ in range(args.runs):
            floors.append(floor(env))
            starts.append(server_start(env))
    f, s = statistics.median(floors), statistics.median(starts)
    print(
        f"bare import pygls.lsp.server : median {f * 1000:7.1f} ms  (min {min(floors) * 1000:.1f})"
    )
    print(
        f"modelrouter lsp → initialize : median {s * 1000:7.1f} ms  (min {min(starts) * 1000:.1f})"
    )
    print(
        f"overhead over the floor      : {(s - f) * 1000:7.1f} ms  (target ≤ 150 ms)"
        f"  ratio {s / f:.2f}×"
    )
    print(f"overhead, fastest runs       : {(min(starts) - min(floors)) * 1000:7.1f} ms")


if __name__ == "__main__":
    main()
