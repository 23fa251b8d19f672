"""Does the shipped classifier decide exactly as another revision does?

Run: python bench/classify_same.py [REV]   (default: main)

Every labelled request in ../shared/routing/ (training, dev and dev-editor files), plus
long requests with pasted code, is classified by the shipped `classify()` of this checkout
and of REV (its `server/` and `rules/` exported with `git archive`), each in a fresh process, once
with no selection and once with a large one. Tier, confidence, source, reason, rule scores,
matched routes and token counts must all be equal; the first differences are printed and
the exit status is 1 when there are any. A second pass in the same process must also give
what the first gave (caches filled by earlier requests change nothing).
Use it to check that a speed-up leaves every decision as it was.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "routing"
FILES = ("train_routing.jsonl", "train_more.jsonl", "dev_routing.jsonl", "dev_editor.jsonl")
SELECTION_TOKENS = (0, 2500)

# Run in a child process whose `modelrouter` comes from the tree on PYTHONPATH.
CHILD = r"""
import dataclasses, json, sys
from modelrouter.classify import classify
from modelrouter.rules import default_rules_path, load_rules

rules = load_rules(default_rules_path())
prompts = json.load(sys.stdin)
selections = json.loads(sys.argv[1])

def run():
    return [
        dataclasses.asdict(classify(rules, p, selection_tokens=s))
        for s in selections
        for p in prompts
    ]

first = run()
second = run()
same = sum(a == b for a, b in zip(first, second))
json.dump({"decisions": first, "stable": same, "n": len(first)}, sys.stdout, ensure_ascii=False)
"""


def prompts() -> list[str]:
    """Every labelled prompt, then long requests with pasted code."""
    out: list[str] = []
    for name in FILES:
        path = SHARED / name
        if path.is_file():
            for line in path.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    out.append(json.loads(line)["prompt"])
    code = "def handler(event):\n    return event['value'] * 2\n" * 150
    out += [f"fix typo in this:\n{code}", f"why does this crash?\n{code}", "", "   "]
    return out


def decisions(server_dir: Path, texts: list[str]) -> dict:
    """The decisions of the `modelrouter` package under `server_dir`, in a fresh process."""
    env = dict(os.environ, PYTHONPATH=str(server_dir))
    done = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(SELECTION_TOKENS)],
        input=json.dumps(texts),
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"classifying with {server_dir} failed:\n{done.stderr}")
    return json.loads(done.stdout)


def export(rev: str, into: Path) -> Path:
    """`server/` (and the `rules/` its default rules link to) of `rev`, under `into`."""
    archive = into / "server.tar"
    with archive.open("wb") as fh:
        subprocess.run(["git", "archive", rev, "server", "rules"], cwd=ROOT, stdout=fh, check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(into, filter="data")
    return into / "server"


def main(argv: list[str]) -> int:
    rev = argv[0] if argv else "main"
    texts = prompts()
    with tempfile.TemporaryDirectory() as tmp:
        theirs = decisions(export(rev, Path(tmp)), texts)
    ours = decisions(ROOT / "server", texts)
    labels = [f"selection {s}: {p[:70]!r}" for s in SELECTION_TOKENS for p in texts]
    differ = [
        (label, a, b)
        for label, a, b in zip(labels, theirs["decisions"], ours["decisions"], strict=True)
        if a != b
    ]
    print(f"{len(labels)} decisions compared with {rev}: {len(differ)} differ")
    for label, a, b in differ[:10]:
        print(f"  {label}")
        for key in a:
            if a[key] != b[key]:
                print(f"    {key}: {rev} {a[key]!r}\n    {key}: here {b[key]!r}")
    unstable = ours["n"] - ours["stable"]
    print(f"second pass in the same process: {unstable} differ from the first")
    return 1 if differ or unstable else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
