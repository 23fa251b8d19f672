"""Learned router speed: weights load time and microseconds per classification.

    python bench/learned.py [REQUESTS.jsonl]

Targets: load < 100 ms, learned classification < 200 µs median. The request mix is the
JSONL file given (default: the dev set beside the repository when present, else a built-in
mix of commit subjects, issue titles and longer bodies).
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUILTIN = [
    "Fix typo in README",
    "Bump version to 2.4.1",
    "Add support for the Partitioned cookie attribute",
    "feat(http2): implement client-side CONNECT support over HTTP/2",
    "Segfault when the pane is resized while a popup is open",
    "Why does the test suite hang on Windows since the last release?",
    "Move session storage from cookies to JWT and split the auth service out",
    "Refactor the plugin system around a message bus",
    "修复bug: 执行器线程阻塞时给管理器返回的json中有特殊符号",
    "Upgrade to Spring Boot 4\n\nThis PR upgrades to Spring Boot 4 and refactors many "
    "deprecated and removed methods across the codebase.",
]

LOAD_SNIPPET = """
import time, sys
t0 = time.perf_counter()
from modelrouter import learned
t1 = time.perf_counter()
m = learned.load(learned.shipped_weights_path())
t2 = time.perf_counter()
m.predict_proba("warm up")
t3 = time.perf_counter()
print((t1 - t0) * 1000, (t2 - t1) * 1000, (t3 - t2) * 1000, len(m.vocab))
"""


def requests(argv: list[str]) -> list[str]:
    """The request mix."""
    path = Path(argv[1]) if len(argv) > 1 else ROOT.parent / "shared/routing/dev_routing.jsonl"
    if path.is_file():
        return [json.loads(line)["prompt"] for line in path.read_text().splitlines() if line]
    return BUILTIN


def per_call_us(fn, texts: list[str], rounds: int = 20) -> list[float]:
    """Microseconds per call, one sample per text per round."""
    samples = []
    for _ in range(rounds):
        for text in texts:
            t0 = time.perf_counter_ns()
            fn(text)
            samples.append((time.perf_counter_ns() - t0) / 1000)
    return samples


def main(argv: list[str]) -> int:
    """Print the figures."""
    loads = []
    for _ in range(5):
        out = subprocess.run(
            [sys.executable, "-c", LOAD_SNIPPET], capture_output=True, text=True, check=True
        ).stdout.split()
        loads.append([float(x) for x in out[:3]])
        n_features = int(out[3])
    imp, load, first = (statistics.median(col) for col in zip(*loads, strict=True))
    print(f"weights: {n_features} features")
    print(f"import modelrouter.learned: {imp:.1f} ms   load weights: {load:.1f} ms (target < 100)")
    print(f"first prediction after load: {first:.2f} ms")

    from modelrouter import learned
    from modelrouter.classify import classify, classify_rules
    from modelrouter.rules import default_rules_path, load_rules

    rules = load_rules(default_rules_path())
    model = learned.default_model()
    texts = requests(argv)
    print(f"request mix: {len(texts)} requests")
    rows = [
        ("learned model alone (predict_proba)", lambda t: model.predict_proba(t)),
        ("rules only (classify_rules)", lambda t: classify_rules(rules, t)),
        ("hybrid classify() end to end", lambda t: classify(rules, t)),
    ]
    for label, fn in rows:
        s = per_call_us(fn, texts)
        s.sort()
        med, p90 = statistics.median(s), s[int(len(s) * 0.9)]
        print(f"{label:38s} median {med:7.1f} µs   p90 {p90:7.1f} µs   {1e6 / med:9.0f} req/s")
    print("target: learned classification < 200 µs median")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
