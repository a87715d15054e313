"""Run every benchmark, one after the other, and list the results files.

    uv run python bench/run_all.py              # all of them
    uv run python bench/run_all.py point_reads  # only the ones named

Each script starts its own PostgreSQL (``find_server()``), so they run in sequence:
two at once would measure each other.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
SCRIPTS = (
    "portfolio_load",
    "bulk_prices",
    "point_reads",
    "unit_of_work",
    "dataapi_calls",
    "load_prices",
)


def main(argv: list[str]) -> int:
    chosen = argv or list(SCRIPTS)
    unknown = [name for name in chosen if name not in SCRIPTS]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; choose from {', '.join(SCRIPTS)}")
        return 2
    failed = []
    for name in chosen:
        print(f"\n=== {name} ===", flush=True)
        start = time.perf_counter()
        result = subprocess.run([sys.executable, str(BENCH_DIR / f"{name}.py")], check=False)
        took = time.perf_counter() - start
        print(f"=== {name}: exit {result.returncode} after {took:.0f} s ===", flush=True)
        if result.returncode != 0:
            failed.append(name)
    print("\nResults:")
    for name in chosen:
        path = BENCH_DIR / "results" / f"{name}.md"
        status = "FAILED" if name in failed else str(path.relative_to(BENCH_DIR.parent))
        print(f"  {name}: {status}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
