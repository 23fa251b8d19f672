"""Cascade benchmark: fixers, the embedded model and a stronger tier on the trivial edits.

Runs every case of bench/trivial_edits.jsonl (typos, renames, docstrings, reformatting and
import sorting across languages, each with its expected output) in four modes and prints,
per mode, the exact-fix rate (overall and per kind), the median and p95 latency per edit,
the WRONG edits applied (changed, not equal to the expected output, and applied: what a
user has to notice and undo) and the unchanged ones (nothing applied):

- `fixer`: the shipped fixers only (typos, ruff format, ruff's import sorting), chosen and
  run by `modelrouter.fixers` as the product runs them, with the shipped rules;
- `embedded`: the embedded model only (the `llamacpp` backend with the packaged model, the
  way bench/embedded.py drives it);
- `cascade-on` / `cascade-off`: the real language server (`modelrouter lsp`, driven by an
  editor-like client) with rules whose trivial tier is the embedded model and whose next
  tier is a stronger model, scripted to answer each case's expected output (the fake
  provider from tests/support on loopback, so a re-ask up there is right): fixer, then the
  embedded model, then, when a check fails the answer, one escalation up. With checks on,
  and with checks off (`checks.enabled: false`, `escalation.max_steps: 0`).

Then, from the two cascade runs: how many right answers the checks lost (right with checks
off, not with checks on; target 0) and the wrong edits applied with checks on and off.

Each case is sent as the editor sends it: "Fix typo", "Reformat" and "Organize imports" as
the fix-typo, format and organize-imports actions, a docstring as add-docstring with the
instruction, a rename as the Ask action with the instruction.

    python bench/cascade.py                          # every mode
    python bench/cascade.py --mode fixer --show-failures
    python bench/cascade.py --mode cascade-on --mode cascade-off --limit 20
    python bench/cascade.py --cases my_edits.jsonl --json figures.json

Measured 2026-12-04 on 2 cores, load average 0.4-1.5 (`python bench/cascade.py`; the cascade
rows from a second run of those two modes):

    mode                  exact fix  wrong applied  unchanged  escalated  median     p95
    fixer only            40/79 51%              1         38          -   14 ms    34 ms
    embedded only         15/79 19%             13         51          -  714 ms  3265 ms
    cascade, checks on    76/79 96%              1          2         25   67 ms  2949 ms
    cascade, checks off   51/79 65%              2         26          0   52 ms  3150 ms
    right answers the checks lost: 0; gained (by escalating): 25
    wrong edits applied: checks on 1, checks off 2

Runs offline. The embedded and cascade modes need the `local` extra (`pip install -e
'.[local]'`), the cascade modes also the `dev` extra (pytest-lsp drives the server); a mode
that cannot run says what is missing and the others still run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml
from embedded import CASES, normalise, pct, run_case
from modelrouter.backends.llamacpp import LlamaCppBackend, load_model, unusable_reason
from modelrouter.config import FixerConfig, Rules
from modelrouter.fixers import first_fix, fixers_for, resolve, suffix_for, version_of
from modelrouter.rules import check_rules, default_rules_path, load_rules

MODES = ("fixer", "embedded", "cascade-on", "cascade-off")
TITLES = {
    "fixer": "fixer only",
    "embedded": "embedded only",
    "cascade-on": "cascade, checks on",
    "cascade-off": "cascade, checks off",
}
# kind -> the editor action that sends it, and whether the case's instruction goes along
# (the action's own title is the instruction for the others).
ACTIONS = {
    "typo": ("fix-typo", False),
    "reformat": ("format", False),
    "imports": ("organize-imports", False),
    "docstring": ("add-docstring", True),
    "rename": ("ask", True),
}
# The language id a case names -> the extension of the file the editor opens.
EXTENSIONS = {
    "python": ".py",
    "javascript": ".js",
    "typescript": ".ts",
    "go": ".go",
    "rust": ".rs",
    "markdown": ".md",
    "yaml": ".yaml",
    "shellscript": ".sh",
}
STRONGER_ROUTE = "stronger"
# A rename: no fixer answers it, so it reaches (and loads) the embedded model.
WARM_UP = {
    "id": "warm-up",
    "kind": "rename",
    "language": "python",
    "instruction": "Rename a to b",
    "code": "a = 1\n",
    "expected": "b = 1\n",
}
TESTS = Path(__file__).resolve().parent.parent / "tests"


@dataclass
class Edit:
    """One case in one mode: what reached the file."""

    id: str
    kind: str
    text: str  # the code after the edit (the case's code when nothing was applied)
    applied: bool  # a change reached the file
    exact: bool  # and it is the expected output
    latency_s: float
    by: str  # who answered: a fixer, a model, or "" when nothing was applied
    escalated: bool = False
    note: str = ""  # why nothing was applied, as the product says it

    @property
    def wrong(self) -> bool:
        return self.applied and not self.exact


def file_name(case: dict) -> str:
    """The file the case is edited in (its extension tells tools the language)."""
    return case["id"] + EXTENSIONS.get(case["language"], ".txt")


def load_cases(path: Path, limit: int | None) -> list[dict]:
    """The cases of a JSON-lines file, the first `limit` of them when given."""
    cases = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    unknown = sorted({c["kind"] for c in cases} - set(ACTIONS))
    if unknown:
        raise SystemExit(f"{path}: kinds with no editor action here: {', '.join(unknown)}")
    return cases[:limit] if limit else cases


def judged(
    case: dict, text: str, latency_s: float, by: str, *, escalated: bool = False, note: str = ""
) -> Edit:
    """An edit judged against the case: applied when it changed the code."""
    applied = normalise(text) != normalise(case["code"])
    return Edit(
        id=case["id"],
        kind=case["kind"],
        text=text,
        applied=applied,
        exact=applied and normalise(text) == normalise(case["expected"]),
        latency_s=latency_s,
        by=by if applied else "",
        escalated=escalated,
        note=note,
    )


# --- fixer only -------------------------------------------------------------------------


async def describe_fixers(fixers: list[FixerConfig]) -> list[str]:
    """Each fixer with its version, or what is missing."""
    lines = []
    for fixer in fixers:
        program = fixer.command[0]
        if await asyncio.to_thread(resolve, program) is None:
            lines.append(f"{fixer.name}: `{program}` not found (pip install {program})")
        else:
            lines.append(f"{fixer.name}: {await version_of(fixer) or program}")
    return lines


async def fixer_mode(rules: Rules, cases: list[dict]) -> list[Edit]:
    """Each case answered by the fixers the product would run for its action, or not."""
    print("fixers: " + "; ".join(await describe_fixers(list(rules.fixers.values()))))
    edits = []
    for case in cases:
        action, _ = ACTIONS[case["kind"]]
        started = time.perf_counter()
        found = fixers_for(rules, action, case["language"])
        answer = await first_fix(found, case["code"], suffix_for(case["language"], file_name(case)))
        elapsed = time.perf_counter() - started
        if answer is None:
            note = "no fixer for this action and language" if not found else "no fixer changed it"
            edits.append(judged(case, case["code"], elapsed, "", note=note))
        else:
            edits.append(judged(case, answer.text, elapsed, answer.fixer))
        progress(edits[-1])
    return edits


# --- embedded model only ----------------------------------------------------------------


async def embedded_mode(rules: Rules, cases: list[dict]) -> list[Edit] | None:
    """Each case answered by the shipped `embedded` backend, as bench/embedded.py asks it."""
    cfg = rules.backends["embedded"]
    reason = unusable_reason(cfg)
    if reason:
        print(f"embedded only: skipped ({reason})")
        return None
    started = time.perf_counter()
    await asyncio.to_thread(load_model, cfg)
    print(f"embedded model {cfg.model}: loaded in {time.perf_counter() - started:.2f} s")
    backend = LlamaCppBackend(cfg)
    edits = []
    for case in cases:
        result = await run_case(backend, case)
        # A reply with no code block would apply nothing.
        text = result.got if result.got.strip() else case["code"]
        edits.append(judged(case, text, result.latency_s, cfg.model or "embedded"))
        progress(edits[-1])
    return edits


# --- the cascade, through the language server -------------------------------------------


def cascade_rules(path: Path, base: Path, stronger_url: str, *, checks: bool) -> Path:
    """Rules for the cascade: the shipped actions, fixers and embedded backend; tiers
    trivial = [embedded] and next = [the scripted stronger model]."""
    shipped = yaml.safe_load(base.read_text(encoding="utf-8"))
    actions = {action: shipped["actions"][action] for action, _ in ACTIONS.values()}
    # Every case is a trivial edit; routing free-form requests is measured by bench/classify.py.
    actions["ask"] = {**actions["ask"], "tier": "trivial"}
    doc = {
        "version": 1,
        "backends": {
            "embedded": shipped["backends"]["embedded"],
            STRONGER_ROUTE: {
                "type": "openai",
                "base_url": stronger_url,
                "model": "scripted-stronger",
                "api_key_env": "FAKE_CLOUD_KEY",
                "price": {"input": 3, "output": 15},
            },
        },
        "tiers": {"trivial": ["embedded"], "next": [STRONGER_ROUTE]},
        "default_tier": "trivial",
        "routes": [{"name": "trivial-edits", "tier": "trivial", "patterns": ["re:."]}],
        "classifier": {"mode": "rules"},
        "actions": actions,
        "fixers": shipped["fixers"],
        "checks": {"enabled": checks},
        "escalation": {"max_steps": 1 if checks else 0},
    }
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


def cascade_missing(rules: Rules) -> str | None:
    """What the cascade modes need and this installation lacks, if anything."""
    reason = unusable_reason(rules.backends["embedded"])
    if reason:
        return reason
    try:
        import pytest_lsp  # noqa: F401  (the editor-like client that drives the server)
    except ImportError:
        return "pytest-lsp is not installed: pip install -e '.[dev]'"
    return None


async def cascade_mode(
    cases: list[dict], base: Path, work: Path, *, checks: bool
) -> tuple[list[Edit], float] | None:
    """Each case run as an editor action on a real language server: (edits, the first
    request's time, which includes loading the model)."""
    sys.path.insert(0, str(TESTS))  # the fake provider and the editor client live there
    from support.fakes.provider import FakeProvider, Reply
    from support.lsp import fenced, lines_range_json, start_editor

    label = "on" if checks else "off"
    fake = FakeProvider().start()
    try:
        rules = cascade_rules(
            work / f"rules-{label}.yaml",
            base,
            fake.base_url("openai", STRONGER_ROUTE),
            checks=checks,
        )
        problems = await asyncio.to_thread(check_rules, rules)
        if problems:
            print(f"{TITLES['cascade-' + label]}: skipped, the rules this needs do not load:")
            for p in problems:
                print(f"  {p.line}:{p.col}: {p.message}")
            return None
        root = work / f"ws-{label}"
        root.mkdir()
        editor = await start_editor(rules, root, work / f"data-{label}")
        try:

            async def run(case: dict) -> tuple[dict, str, float]:
                fake.default(STRONGER_ROUTE, Reply(text=fenced(case["expected"], case["language"])))
                uri = editor.open(file_name(case), case["code"], case["language"])
                action, with_instruction = ACTIONS[case["kind"]]
                args: dict[str, Any] = {
                    "action": action,
                    "uri": uri,
                    "range": lines_range_json(0, len(case["code"].splitlines())),
                }
                if with_instruction:
                    args["instruction"] = case["instruction"]
                started = time.perf_counter()
                result = await editor.execute("modelrouter.run", args)
                elapsed = time.perf_counter() - started
                text = editor.text(uri)
                editor.close(uri)
                return result, text, elapsed

            # One untimed request first: it loads the model, as a user's first edit would.
            _, _, load_s = await run(WARM_UP)
            edits = []
            for case in cases:
                result, text, elapsed = await run(case)
                escalated = result.get("tier") == "next"
                by = str(result.get("backend") or "")
                note = "" if result.get("applied") else str(result.get("message", ""))
                edits.append(judged(case, text, elapsed, by, escalated=escalated, note=note))
                progress(edits[-1])
            return edits, load_s
        finally:
            await editor.stop()
    finally:
        fake.stop()


# --- figures ----------------------------------------------------------------------------


def progress(edit: Edit) -> None:
    """One character per case on stderr: . right, x wrong edit applied, - unchanged."""
    mark = "." if edit.exact else "x" if edit.wrong else "-"
    print(mark, end="", flush=True, file=sys.stderr)


def figures(edits: list[Edit]) -> dict[str, Any]:
    """What one mode did, as numbers."""
    latencies = [e.latency_s for e in edits]
    by: dict[str, int] = {}
    for e in edits:
        if e.applied:
            by[e.by] = by.get(e.by, 0) + 1
    return {
        "cases": len(edits),
        "exact": sum(e.exact for e in edits),
        "wrong_applied": sum(e.wrong for e in edits),
        "unchanged": sum(not e.applied for e in edits),
        "escalated": sum(e.escalated for e in edits),
        "median_ms": statistics.median(latencies) * 1000,
        "p95_ms": pct(latencies, 95) * 1000,
        "per_kind": {
            kind: [
                sum(e.exact for e in edits if e.kind == kind),
                sum(e.kind == kind for e in edits),
            ]
            for kind in dict.fromkeys(e.kind for e in edits)
        },
        "applied_by": by,
    }


def compare(on: list[Edit], off: list[Edit]) -> dict[str, Any]:
    """What the checks changed: right answers lost, wrong edits applied on and off."""
    lost = [a.id for a, b in zip(on, off, strict=True) if b.exact and not a.exact]
    gained = [a.id for a, b in zip(on, off, strict=True) if a.exact and not b.exact]
    return {
        "right_lost": lost,
        "right_gained": gained,
        "wrong_applied_on": sum(e.wrong for e in on),
        "wrong_applied_off": sum(e.wrong for e in off),
    }


def report(
    results: dict[str, list[Edit]], cases: list[dict], show_failures: bool
) -> dict[str, Any]:
    """Print the figures of every mode that ran; return them."""
    summary = {mode: figures(edits) for mode, edits in results.items()}
    kinds = list(dict.fromkeys(c["kind"] for c in cases))
    print(
        f"\n{'mode':<21} {'exact fix':>12} {'wrong applied':>14} {'unchanged':>10} "
        f"{'escalated':>10} {'median':>9} {'p95':>9}   " + "  ".join(kinds)
    )
    for mode, f in summary.items():
        exact = f"{f['exact']}/{f['cases']} {f['exact'] / f['cases']:>4.0%}"
        escalated = f["escalated"] if mode.startswith("cascade") else "-"
        per_kind = "  ".join(
            f"{'/'.join(map(str, f['per_kind'].get(k, [0, 0]))):>{len(k)}}" for k in kinds
        )
        print(
            f"{TITLES[mode]:<21} {exact:>12} {f['wrong_applied']:>14} {f['unchanged']:>10} "
            f"{escalated:>10} {f['median_ms']:>6.0f} ms {f['p95_ms']:>6.0f} ms   {per_kind}"
        )
    for mode, f in summary.items():
        if mode.startswith("cascade"):
            who = ", ".join(f"{name} {n}" for name, n in sorted(f["applied_by"].items()))
            print(f"{TITLES[mode]}: applied edits by {who or 'nobody'}")
    if "cascade-on" in results and "cascade-off" in results:
        diff = compare(results["cascade-on"], results["cascade-off"])
        summary["checks"] = diff
        lost = diff["right_lost"]
        print(
            f"right answers the checks lost (right with checks off, not on): {len(lost)}"
            + (f" ({', '.join(lost)})" if lost else "")
        )
        print(f"right answers the checks gained (by escalating): {len(diff['right_gained'])}")
        print(
            f"wrong edits applied: checks on {diff['wrong_applied_on']}, "
            f"checks off {diff['wrong_applied_off']}"
        )
    if show_failures:
        by_id = {c["id"]: c for c in cases}
        for mode, edits in results.items():
            misses = [e for e in edits if not e.exact]
            print(f"\n{TITLES[mode]}: {len(misses)} not exact")
            for e in misses:
                case = by_id[e.id]
                what = f"wrong edit by {e.by}" if e.wrong else f"unchanged ({e.note or 'no edit'})"
                print(f"  x {e.id}: {what}\n      expected {case['expected']!r}")
                if e.applied:
                    print(f"      got      {e.text!r}")
    return summary


async def bench(args: argparse.Namespace) -> int:
    """Run the chosen modes and report."""
    cases = load_cases(Path(args.cases), args.limit)
    base = default_rules_path()
    rules = load_rules(base)
    load = os.getloadavg()
    print(
        f"{len(cases)} trivial edits from {Path(args.cases).name}; cpu cores: {os.cpu_count()}; "
        f"load average {load[0]:.1f} at start"
    )
    modes = args.mode or list(MODES)
    results: dict[str, list[Edit]] = {}
    if "fixer" in modes:
        results["fixer"] = await fixer_mode(rules, cases)
        print(file=sys.stderr)
    if "embedded" in modes:
        edits = await embedded_mode(rules, cases)
        print(file=sys.stderr)
        if edits is not None:
            results["embedded"] = edits
    cascades = [m for m in ("cascade-on", "cascade-off") if m in modes]
    missing = cascade_missing(rules) if cascades else None
    if missing:
        print(f"cascade modes: skipped ({missing})")
    else:
        with tempfile.TemporaryDirectory(prefix="modelrouter-cascade-") as folder:
            for mode in cascades:
                ran = await cascade_mode(cases, base, Path(folder), checks=mode == "cascade-on")
                print(file=sys.stderr)
                if ran is not None:
                    results[mode], load_s = ran
                    print(f"{TITLES[mode]}: first request (loads the model) {load_s:.2f} s")
    print(f"load average {os.getloadavg()[0]:.1f} at the end")
    if not results:
        return 1
    summary = report(results, cases, args.show_failures)
    if args.json:
        summary["edits"] = {mode: [asdict(e) for e in edits] for mode, edits in results.items()}
        Path(args.json).write_text(json.dumps(summary, indent=2), encoding="utf-8")
    return 0


def main() -> int:
    """Entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--mode", action="append", choices=MODES, help="run only this mode (repeatable)"
    )
    parser.add_argument("--cases", default=str(CASES), help="a JSON-lines file of cases")
    parser.add_argument("--limit", type=int, help="only the first N cases")
    parser.add_argument("--show-failures", action="store_true")
    parser.add_argument(
        "--json", metavar="FILE", help="also write the figures and every edit to FILE as JSON"
    )
    return asyncio.run(bench(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
