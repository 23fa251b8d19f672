"""Big files: a keystroke, a fix's context and its syntax check in a multi-megabyte module.

Targets: a keystroke in a 50 MB file well under 100 ms (pygls' own text document re-splits
the whole file: seconds); the syntax check of a one-line fix parses the edited function,
not the file; peak memory a small multiple of the file size.
Run: python bench/bigfile.py [--mb 5 50]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time

from lsprotocol import types
from modelrouter.context import build_context
from modelrouter.document import Document
from modelrouter.positions import Pos
from modelrouter.python_syntax import breaks_python
from pygls.workspace import TextDocument

FUNCTION = '''def handler_{n}(request, retries=3):
    """Handle one request."""
    for attempt in range(retries):
        value = request.get("value", {n})
        if value > attempt:
            return teh_value + attempt
    return None


'''


def module(megabytes: float) -> str:
    parts, size, n = [], 0, 0
    while size < megabytes * 1_000_000:
        part = FUNCTION.format(n=n)
        parts.append(part)
        size += len(part)
        n += 1
    return "".join(parts)


def timed(fn, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def measure(mb: float) -> str:
    text = module(mb)
    lines = text.count("\n")
    mid = lines // 2
    doc = Document("file:///big.py", text, 1, "python")
    doc.lines  # noqa: B018  (the index exists once the document has been used)

    def keystroke() -> None:
        doc.change(Pos(mid, 4), Pos(mid, 4), "x")
        doc.change(Pos(mid, 4), Pos(mid, 5), "")

    ours = timed(keystroke) / 2
    pygls_doc = TextDocument("file:///big.py", text)
    change = types.TextDocumentContentChangePartial(
        range=types.Range(start=types.Position(mid, 4), end=types.Position(mid, 4)), text="x"
    )
    theirs = timed(lambda: pygls_doc.apply_change(change), repeat=2)
    line = mid - (mid % 8) + 5  # a `return teh_value ...` line
    start, end = doc.lines.line_start(line), doc.lines.line_start(line + 1)
    ctx_s = timed(
        lambda: build_context(doc.text, start, end, language_id="python", index=doc.lines),
        repeat=3,
    )
    fixed = "            return the_value + attempt\n"
    check_s = timed(lambda: breaks_python(doc.text, start, end, fixed, doc.lines), repeat=3)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return (
        f"{mb:g} MB, {lines:,} lines: keystroke {ours * 1000:.1f} ms "
        f"(pygls text document {theirs * 1000:.0f} ms, {theirs / ours:.0f}x); "
        f"context {ctx_s * 1000:.0f} ms; syntax check {check_s * 1000:.1f} ms; "
        f"peak RSS so far {rss_mb:.0f} MB"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=float, nargs="+", default=[5, 50])
    args = parser.parse_args()
    for mb in args.mb:
        print(measure(mb), flush=True)


if __name__ == "__main__":
    main()
