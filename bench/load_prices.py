"""`alex-db load-prices` end to end: rows per second from a CSV file, and peak memory.

A deterministic CSV of 2,000,000 rows (500 symbols x 4,000 consecutive days, 68 MB) is
written to a temporary directory and loaded into an empty ``price_history`` table, on
the same database in the same run, by:

* alex_db: the real command, ``python -m alex_db.cli --database-url URL load-prices
  FILE``, as a subprocess (so its start-up, the migration check and its peak RSS count).
  Every row is new, so it copies them straight into ``price_history`` as it reads;
* alex_db again: the same command with the same file already loaded (not timed), so
  every day is stored: it reads the file a second time into a staging table and merges
  (nothing changes), the path any file that touches stored days takes;
* baseline (a): plain ``COPY price_history (...) FROM STDIN (FORMAT CSV)`` of the same
  file through psycopg, with no validation and no idempotency: the floor for getting
  these rows into this table at all;
* baseline (b): ``COPY`` of the file into a temporary table, then ``INSERT INTO
  price_history SELECT ... ORDER BY symbol, date ON CONFLICT (symbol, date) DO UPDATE``:
  what the server alone needs for an idempotent load, with nothing checked on the client.

Rounds are interleaved (alex_db, (a), (b), alex_db again, alex_db, ...); each run starts
from an empty table (TRUNCATE and CHECKPOINT, not timed; for "again" the file is then
loaded once, not timed) and includes the commit. Then the same command
loads a smaller file through the project's RDS Data API emulator (subprocess with the
Aurora variables set); there is no baseline for that one (nothing else here loads
through the Data API), only its rows per second and call count.

    uv run python bench/load_prices.py
    uv run python bench/load_prices.py --rows 200000   # a quicker run
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchlib import (
    Recorder,
    Report,
    bench_database,
    fmt_rate,
    fmt_ratio,
    machine_info,
    psycopg_connect,
    samples_line,
    settle,
)
from sqlalchemy import URL

from alex_db.testing.dataapi import DataAPIEmulator

NAME = "load_prices"
AGAIN = "alex-db load-prices, same file again"
DAYS = 4_000
ROUNDS = 3
DATA_API_ROWS = 100_000
TARGET = 100_000  # rows/s end to end on direct PostgreSQL, for 2,000,000 rows
MEMORY_TARGET_MB = 150
FIRST_DAY = dt.date(2010, 1, 1)

# Runs the command in a child process and reports that process's own peak RSS.
RUNNER = """
import resource, sys
from alex_db.cli import app
try:
    app(sys.argv[1:])
except SystemExit as exc:
    code = exc.code or 0
else:
    code = 0
print("MAXRSS_KB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)
sys.exit(code)
"""


def write_csv(path: Path, rows: int) -> int:
    """``rows`` rows (rounded down to whole symbols of DAYS days); returns the symbols."""
    symbols = max(1, rows // DAYS)
    days = [(FIRST_DAY + dt.timedelta(days=d)).isoformat() for d in range(DAYS)]
    with path.open("w") as out:
        out.write("symbol,date,close_price,volume\n")
        for s in range(symbols):
            symbol = f"PX{s:03d}"
            for d, day in enumerate(days[: min(DAYS, rows)]):
                price = 100 + (s * 7 + d * 13) % 500_000 / 10_000
                out.write(f"{symbol},{day},{price:.4f},{1_000_000 + (s * 31 + d * 77) % 500_000}\n")
    return symbols


def add_instruments(url: URL, symbols: int) -> None:
    with psycopg_connect(url) as conn:
        conn.execute(
            "INSERT INTO instruments (symbol, name, instrument_type) "
            "SELECT 'PX' || lpad(g::text, 3, '0'), 'bench', 'etf' "
            "FROM generate_series(0, %s) g",
            (symbols - 1,),
        )


def empty_table(url: URL) -> None:
    with psycopg_connect(url) as conn:
        conn.execute("TRUNCATE price_history")
        conn.execute("CHECKPOINT")


def stored_rows(url: URL) -> int:
    with psycopg_connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM price_history").fetchone()
        return int(row[0]) if row else 0


def run_command(args: list[str], env: dict[str, str] | None = None) -> int:
    """Runs ``alex-db ARGS``; returns its peak RSS in KB (fails the bench if it fails)."""
    result = subprocess.run(
        [sys.executable, "-c", RUNNER, *args],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    if result.returncode != 0:
        raise SystemExit(f"alex-db {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    for line in result.stderr.splitlines():
        if line.startswith("MAXRSS_KB "):
            return int(line.split()[1])
    raise SystemExit("the command did not report its memory")


def plain_copy(url: URL, path: Path) -> None:
    with psycopg_connect(url, autocommit=False) as conn, conn.cursor() as cursor:
        sql = (
            "COPY price_history (symbol, date, close_price, volume) FROM STDIN (FORMAT CSV, HEADER)"
        )
        with cursor.copy(sql) as copy, path.open("rb") as source:
            while block := source.read(1 << 20):
                copy.write(block)
        conn.commit()


def copy_and_merge(url: URL, path: Path) -> None:
    with psycopg_connect(url, autocommit=False) as conn, conn.cursor() as cursor:
        cursor.execute(
            "CREATE TEMPORARY TABLE stage (symbol varchar(20), date date, "
            "close_price numeric(12, 4), volume bigint) ON COMMIT DROP"
        )
        copying = cursor.copy("COPY stage FROM STDIN (FORMAT CSV, HEADER)")
        with copying as copy, path.open("rb") as source:
            while block := source.read(1 << 20):
                copy.write(block)
        cursor.execute("SET LOCAL work_mem = '64MB'")  # as alex_db's merge does
        cursor.execute(
            "INSERT INTO price_history (symbol, date, close_price, volume) "
            "SELECT symbol, date, close_price, volume FROM stage ORDER BY symbol, date "
            "ON CONFLICT (symbol, date) DO UPDATE SET close_price = excluded.close_price, "
            "volume = excluded.volume WHERE price_history.close_price IS DISTINCT FROM "
            "excluded.close_price OR price_history.volume IS DISTINCT FROM excluded.volume"
        )
        conn.commit()


def data_api_run(url: URL, folder: Path, rows: int) -> tuple[int, float, int, int]:
    """The command through the Data API emulator on a smaller file: rows, seconds,
    calls, peak RSS in KB."""
    api_path = folder / "prices-dataapi.csv"
    api_symbols = write_csv(api_path, min(DATA_API_ROWS, rows))
    api_rows = api_symbols * min(DAYS, rows)
    empty_table(url)
    with DataAPIEmulator(url) as emulator:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "AURORA_"))}
        env.update(
            AURORA_CLUSTER_ARN=emulator.resource_arn,
            AURORA_SECRET_ARN=emulator.secret_arn,
            AURORA_DATABASE=str(url.database),
            AWS_REGION="us-east-1",
            AWS_ENDPOINT_URL_RDS_DATA=emulator.endpoint_url,
            AWS_ACCESS_KEY_ID="bench",
            AWS_SECRET_ACCESS_KEY="bench",
        )
        emulator.reset_counts()
        start = time.perf_counter()
        api_memory = run_command(["load-prices", str(api_path)], env)
        api_seconds = time.perf_counter() - start
        api_calls = sum(emulator.call_counts.values())
    assert stored_rows(url) == api_rows, "the Data API load stored the wrong rows"
    return api_rows, api_seconds, api_calls, api_memory


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="alex-db-bench-") as folder, bench_database(NAME) as db:
        path = Path(folder) / "prices.csv"
        symbols = write_csv(path, options.rows)
        rows = symbols * min(DAYS, options.rows)
        size_mb = path.stat().st_size / 1e6
        add_instruments(db.url, symbols)
        url = db.url.render_as_string(hide_password=False)
        command = ["--database-url", url, "load-prices", str(path)]
        recorder = Recorder()
        memory: list[int] = []
        contenders = {
            "alex-db load-prices": lambda: memory.append(run_command(command)),
            "(a) plain COPY": lambda: plain_copy(db.url, path),
            "(b) COPY + staging merge": lambda: copy_and_merge(db.url, path),
            AGAIN: lambda: memory.append(run_command(command)),
        }
        for round_ in range(options.rounds):
            for name, run in contenders.items():
                empty_table(db.url)
                if name == AGAIN:  # every row already stored: the staging way
                    run_command(command)
                settle()
                took = recorder.time(name, run)
                assert stored_rows(db.url) == rows, f"{name} stored the wrong number of rows"
                print(f"round {round_ + 1}: {name}: {took:.2f} s", flush=True)

        api_rows, api_seconds, api_calls, api_memory = data_api_run(
            db.url, Path(folder), options.rows
        )

        report = Report(
            name=NAME,
            title="alex-db load-prices: rows per second from CSV, and peak memory",
            machine=machine_info(db),
        )
        report.method = [
            f"{rows:,} rows ({symbols} symbols x {min(DAYS, options.rows):,} days from "
            f"{FIRST_DAY}), {size_mb:.0f} MB of CSV; the instruments exist beforehand.",
            f"{options.rounds} interleaved rounds; each run from an empty table (TRUNCATE "
            "and CHECKPOINT before it, not timed), commit included. alex-db runs as a "
            "subprocess: Python start-up, imports and the migration check are in its time.",
            f"'{AGAIN}': the file is loaded once (not timed), then timed loading again: "
            "every day is stored, so the command stages and merges (and changes nothing).",
            "Every row goes through price_history's foreign-key check on the server (one "
            "per row, in every contender): that check is most of plain COPY's time here.",
            "Peak memory is the command process's own maximum RSS (getrusage).",
            f"Data API: {api_rows:,} rows through the project's emulator on this machine "
            "(about a millisecond a call here; 20-250 ms in production, where the call "
            "count is the figure that carries over).",
        ]
        table = []
        for name in contenders:
            stats = recorder.stats(name)
            table.append(
                [
                    name,
                    fmt_rate(rows / stats.median),
                    f"{stats.median:.2f}",
                    f"{stats.minimum:.2f}-{stats.maximum:.2f}",
                    str(stats.runs),
                ]
            )
            report.raw.append(f"{name}: {samples_line(stats, scale=1, unit='s')}")
        report.add_table(
            "Direct PostgreSQL",
            ["contender", "rows/s (median)", "median s", "min-max s", "runs"],
            table,
        )
        alex = rows / recorder.stats("alex-db load-prices").median
        again = rows / recorder.stats(AGAIN).median
        floor = rows / recorder.stats("(a) plain COPY").median
        merge = rows / recorder.stats("(b) COPY + staging merge").median
        peak_mb = max(memory) / 1024
        report.add_table(
            "Ratios and targets",
            ["", "value"],
            [
                ["alex-db / (a) plain COPY", fmt_ratio(alex / floor)],
                ["alex-db / (b) COPY + staging merge", fmt_ratio(alex / merge)],
                ["alex-db again (all stored) / (b) COPY + staging merge", fmt_ratio(again / merge)],
                [f"target: >= {TARGET:,} rows/s", "MET" if alex >= TARGET else "NOT MET"],
                ["(a) plain COPY itself, rows/s", fmt_rate(floor)],
                ["peak RSS of alex-db (MB, largest run)", f"{peak_mb:.0f}"],
                [
                    f"target: < {MEMORY_TARGET_MB} MB",
                    "MET" if peak_mb < MEMORY_TARGET_MB else "NOT MET",
                ],
            ],
        )
        report.add_table(
            "Through the Data API emulator",
            ["rows", "seconds", "rows/s", "Data API calls", "peak RSS (MB)"],
            [
                [
                    f"{api_rows:,}",
                    f"{api_seconds:.2f}",
                    fmt_rate(api_rows / api_seconds),
                    str(api_calls),
                    f"{api_memory / 1024:.0f}",
                ]
            ],
        )
        report.summary = (
            f"load-prices loads {rows:,} rows at {fmt_rate(alex)} rows/s "
            f"({'MET' if alex >= TARGET else 'NOT MET'}: target {TARGET:,}), "
            f"{fmt_ratio(alex / floor)} of plain COPY and {fmt_ratio(alex / merge)} of COPY + "
            f"staging merge, peak RSS {peak_mb:.0f} MB; the same file again (every day "
            f"stored) {fmt_rate(again)} rows/s; through the Data API emulator "
            f"{fmt_rate(api_rows / api_seconds)} rows/s in {api_calls} calls."
        )
        report.write()


if __name__ == "__main__":
    main()
