"""Team ledger figures: SQLite versus a real PostgreSQL, several processes at once.

Run: python bench/ledger_team.py [--processes 4] [--rows 500]
Needs PostgreSQL's initdb/pg_ctl and psycopg (the `team` extra); the server is started in a
temporary directory on a loopback port and removed afterwards.

Figures, for each database:
- rows/s: requests recorded (two attempts each) by P processes writing at once, each row its
  own transaction, as the proxy's writer threads do;
- holds/s: budget check + reservation transactions by P processes racing for one budget,
  and how many were admitted (must equal the budget / hold exactly);
- record() p50/p99 in one process, the latency a request's writer thread sees.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

WRITER = """
import sys, time
sys.path.insert(0, sys.argv[4])
from support.ledger_samples import entry, make_rules
from modelrouter.ledger import Ledger
target, rows, start = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
rules = make_rules()
ledger = Ledger(target)
ledger.count()
while time.time() < start:
    time.sleep(0.0005)
for i in range(rows):
    e = entry(rules, ts=time.time(), tier="strong", failed_first="sonnet", backend="opus")
    if ledger.record(e) is None:
        raise SystemExit(ledger.last_error)
print(time.time())
"""

RESERVER = """
import sys, time
sys.path.insert(0, sys.argv[4])
from support.ledger_samples import make_rules
from modelrouter.budget import BudgetGuard, Hold
from modelrouter.config import Budget
from modelrouter.ledger import Ledger
target, tries, start = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
rules = make_rules({"sonnet": Budget(daily_usd=float(sys.argv[5]))})
guard = BudgetGuard(Ledger(target), rules)
guard.ledger.count()
while time.time() < start:
    time.sleep(0.0005)
admitted = sum(isinstance(guard.reserve(rules.backends["sonnet"], 0.01), Hold)
               for _ in range(tries))
print(time.time(), admitted)
"""


def _race(script: str, target: str, n: int, processes: int, *extra: str) -> tuple[float, list]:
    start = time.time() + 2.0
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                script,
                target,
                str(n),
                str(start),
                str(HERE.parent / "tests"),
                *extra,
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(processes)
    ]
    outs = [p.communicate(timeout=600)[0].split() for p in procs]
    if any(p.returncode for p in procs):
        raise SystemExit("a bench process failed")
    ended = max(float(o[0]) for o in outs)
    return ended - start, outs


def _single_latency(target: str, n: int) -> tuple[float, float]:
    from modelrouter.ledger import Ledger
    from support.ledger_samples import entry, make_rules

    rules = make_rules()
    ledger = Ledger(target)
    ledger.count()
    times = []
    for _ in range(n):
        e = entry(rules, ts=time.time(), tier="strong", failed_first="sonnet", backend="opus")
        t = time.perf_counter()
        ledger.record(e)
        times.append(time.perf_counter() - t)
    ledger.close()
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.99) - 1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--rows", type=int, default=500)
    args = parser.parse_args()
    from support.postgres import PostgresServer, unavailable

    why = unavailable()
    if why:
        raise SystemExit(f"no PostgreSQL: {why}")
    server = PostgresServer().start()
    tmp = Path(tempfile.mkdtemp(prefix="modelrouter-bench-"))
    try:
        results = {}
        for kind in ("sqlite", "postgresql"):

            def target(name: str, kind: str = kind) -> str:
                return server.new_database() if kind == "postgresql" else str(tmp / f"{name}.db")

            rows_target = target("rows")
            took, _ = _race(WRITER, rows_target, args.rows, args.processes)
            rows_s = args.rows * args.processes / took
            budget = 0.01 * args.rows  # room for a quarter of the tries
            took_r, outs = _race(RESERVER, target("holds"), args.rows, args.processes, str(budget))
            holds_s = args.rows * args.processes / took_r
            admitted = sum(int(o[1]) for o in outs)
            p50, p99 = _single_latency(target("single"), args.rows)
            results[kind] = (rows_s, holds_s, admitted, p50, p99)
            print(
                f"{kind:<10} {args.processes} processes: {rows_s:8.0f} rows/s  "
                f"{holds_s:8.0f} holds/s (admitted {admitted} of {args.rows * args.processes},"
                f" budget fits {round(budget / 0.01)})  record() p50 {p50 * 1000:.2f} ms"
                f" p99 {p99 * 1000:.2f} ms"
            )
        lite, pg = results["sqlite"], results["postgresql"]
        print(f"PostgreSQL / SQLite: rows/s x{pg[0] / lite[0]:.2f}, holds/s x{pg[1] / lite[1]:.2f}")
    finally:
        server.remove()


if __name__ == "__main__":
    main()
