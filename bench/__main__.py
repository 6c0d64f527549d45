"""`python -m bench [NAME ...]`: run benchmarks, print a table, exit 0 even on MISSED.

Exit status 2 for an unknown name, 1 if a benchmark could not run at all.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
import traceback

from pysqlite3 import dbapi2 as sqlite3

from . import BENCHMARKS
from .report import Outcome, print_outcome, print_summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description="liveblog benchmarks against a raw SQLite baseline"
    )
    parser.add_argument("names", nargs="*", metavar="NAME", help="benchmarks to run (all)")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    args = parser.parse_args(argv)

    if args.list:
        for name, benchmark in BENCHMARKS.items():
            print(f"{name:<14} {benchmark.title}")
        return 0
    unknown = [name for name in args.names if name not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}")
    names = args.names or list(BENCHMARKS)

    print(
        f"liveblog benchmarks: Python {platform.python_version()}, "
        f"SQLite {sqlite3.sqlite_version} (pysqlite3), {os.cpu_count()} CPU(s), "
        f"databases under {tempfile.gettempdir()}",
        flush=True,
    )
    results: dict[str, Outcome] = {}
    errors: list[str] = []
    began = time.perf_counter()
    for name in names:
        benchmark = BENCHMARKS[name]
        print(f"\n== {name}: {benchmark.title}", flush=True)
        start = time.perf_counter()
        try:
            outcome = benchmark.run()
        except Exception:
            traceback.print_exc()
            print(f"  ERROR: {name} could not run (traceback above)", flush=True)
            errors.append(name)
            continue
        results[name] = outcome
        print_outcome(outcome)
        print(f"  ({time.perf_counter() - start:.1f} s)", flush=True)
    print_summary(results, errors)
    print(f"  total {time.perf_counter() - began:.1f} s")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
