"""Secret redaction speed: what scanning a request's context costs before it leaves.

Run: python bench/redact.py
Scans real source files (the Python standard library modules of this interpreter) as a
request's context would carry them, in sizes an editor sends (a 4 KB selection with its
scope, a 32 KB file, a 128 KB long-context request), and prints the median time per request
and the throughput in MB/s; then the same for text with planted credentials, and the cost
of restoring placeholders in a reply. Redaction runs on the event loop for every request to
a non-local backend, so it should stay well under a millisecond per 4 KB.
"""

from __future__ import annotations

import statistics
import sysconfig
import time
from pathlib import Path

from modelrouter.redact import Redactor

SIZES = (4_096, 32_768, 131_072)
PLANTED = (
    'OPENAI_API_KEY = "sk-proj-Zx81Qw72Er63Ty54Ui45Op36As27Df18Gh09"\n'
    'AWS_ACCESS_KEY_ID = "AKIAQ7W3E9R2T8Y4U6I1"\n'
    'DATABASE_URL = "postgres://app:pw-Hq73ks91Lz@db:5432/app"\n'
    "password = 'correct horse battery staple'\n"
)


def corpus() -> str:
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    parts = []
    for name in ("typing.py", "argparse.py", "json/decoder.py", "subprocess.py", "pathlib.py"):
        path = stdlib / name
        if path.is_file():
            parts.append(path.read_text(encoding="utf-8", errors="replace"))
    return "\n".join(parts) * 2


def timed(fn, repeat: int) -> float:
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


def main() -> None:
    text = corpus()
    print(f"{'context':>10} {'median ms':>10} {'MB/s':>8}  {'planted':>8} {'found':>5}")
    for size in SIZES:
        chunk = text[:size]
        clean = timed(lambda c=chunk: Redactor().redact(c), 30)
        seeded = chunk[: size // 2] + PLANTED + chunk[size // 2 :]
        redactor = Redactor()
        redactor.redact(seeded)
        planted = timed(lambda s=seeded: Redactor().redact(s), 30)
        mbps = size / clean / 1e6
        print(
            f"{size // 1024:>8} KB {clean * 1e3:>10.2f} {mbps:>8.1f}  {planted * 1e3:>6.2f}ms"
            f" {redactor.count:>5}"
        )
    redactor = Redactor()
    reply = redactor.redact(text[:16_384] + PLANTED)
    restore = timed(lambda: redactor.restore(reply), 200)
    print(f"restore placeholders in a 16 KB reply: {restore * 1e6:.0f} µs median")


if __name__ == "__main__":
    main()
