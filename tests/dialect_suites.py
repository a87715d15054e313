"""Runs SQLAlchemy's dialect conformance suite and Alembic's migration suite, on the
``postgresql+psycopg`` baseline and on ``postgresql+alexdataapi`` through the project's
Data API emulator (the tests are in test_dialect_suites.py).

Each suite runs in its own pytest process (SQLAlchemy's plugin takes over the session
it runs in), from ``dialect_suite/<suite>/``, against a scratch database. The four runs
take about two minutes, mostly waiting on HTTP round trips, so they start in the
background as soon as collection selects these tests (see ``tests/conftest.py``), on
their own PostgreSQL server, while the rest of the suite runs; each test waits for
its run. A run passes when nothing fails and it passed at least as many tests as
when this was written (a run that collects nothing, or skips what it used to run,
fails too).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import URL, create_engine, text
from sqlalchemy.pool import NullPool

from alex_db.testing.postgres import find_server, scratch_database

SUITES = Path(__file__).resolve().parent.parent / "dialect_suite"
RUNS = (
    ("sqlalchemy_suite", "alexdataapi"),
    ("sqlalchemy_suite", "psycopg"),
    ("alembic_suite", "alexdataapi"),
    ("alembic_suite", "psycopg"),
)
# Passed at least (PostgreSQL 15, SQLAlchemy 2.1, Alembic 1.x).
MINIMUM_PASSED = {
    ("sqlalchemy_suite", "psycopg"): 1750,
    ("sqlalchemy_suite", "alexdataapi"): 1700,
    ("alembic_suite", "psycopg"): 110,
    ("alembic_suite", "alexdataapi"): 110,
}
RUN_TIMEOUT_S = 600
CLUSTER_ARN = "arn:aws:rds:us-east-1:123456789012:cluster:alex-dialect-suite"
SECRET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:alex-dialect-suite-AbCdEf"


@dataclass
class Outcome:
    returncode: int | None = None
    stdout: str = ""
    stderr: str = ""
    done: threading.Event = field(default_factory=threading.Event)


@dataclass
class Background:
    """The four runs, one after the other, on a thread of their own."""

    outcomes: dict[tuple[str, str], Outcome] = field(
        default_factory=lambda: {run: Outcome() for run in RUNS}
    )
    stopping: threading.Event = field(default_factory=threading.Event)
    child: subprocess.Popen[str] | None = None
    thread: threading.Thread | None = None
    server: ExitStack = field(default_factory=ExitStack)
    selected: set[tuple[str, str]] = field(default_factory=lambda: set(RUNS))

    def start(self) -> None:
        # The server starts here, on the main thread (the embedded one cannot start on
        # another), and stops in stop(), at the end of the session.
        url = self.server.enter_context(find_server()).url
        self.thread = threading.Thread(
            target=self._run_all, args=(url,), name="dialect-suites", daemon=True
        )
        self.thread.start()

    def stop(self) -> None:
        """At the end of the session: stop a run still going, then the server."""
        self.stopping.set()
        if self.child is not None and self.child.poll() is None:
            self.child.kill()
        if self.thread is not None:
            self.thread.join(timeout=60)
        self.server.close()

    def _run_all(self, server_url: URL) -> None:
        try:
            for run in RUNS:
                if self.stopping.is_set():
                    break
                if run in self.selected:
                    self._run(run, server_url)
        except Exception as exc:  # reported by every test still waiting
            for outcome in self.outcomes.values():
                if not outcome.done.is_set():
                    outcome.stderr = f"the dialect suites could not run: {exc!r}"
        finally:
            for outcome in self.outcomes.values():
                outcome.done.set()

    def _run(self, run: tuple[str, str], server_url: URL) -> None:
        suite, target = run
        outcome = self.outcomes[run]
        with scratch_database(server_url, prefix="alex_dialect_suite") as url:
            engine = create_engine(url, poolclass=NullPool)
            with engine.begin() as conn:  # the schemas the suites' cross-schema tests use
                conn.execute(text("CREATE SCHEMA test_schema"))
                conn.execute(text("CREATE SCHEMA test_schema_2"))
            engine.dispose()
            with _target(target, url) as (uri, env), tempfile.TemporaryDirectory() as tmp:
                # A copy to run in: the suites write their scratch files to the current
                # directory (Alembic's scratch/), and a run stopped half way leaves them.
                folder = shutil.copytree(SUITES / suite, Path(tmp) / suite)
                self.child = subprocess.Popen(
                    [sys.executable, "-m", "pytest", "-q", "-p", "no:alex_db", "--dburi", uri],
                    cwd=folder,
                    env=env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                )
                try:
                    outcome.stdout, outcome.stderr = self.child.communicate(timeout=RUN_TIMEOUT_S)
                except subprocess.TimeoutExpired:
                    self.child.kill()
                    outcome.stdout, outcome.stderr = self.child.communicate()
                    outcome.stderr += f"\nstopped after {RUN_TIMEOUT_S} s"
                outcome.returncode = self.child.returncode
        outcome.done.set()


_background: Background | None = None


def start_in_background(runs: set[tuple[str, str]]) -> None:
    """Start the selected runs (once per test session)."""
    global _background  # noqa: PLW0603 - one background run per test session
    if _background is None:
        _background = Background(selected=runs)
        _background.start()


def background() -> Background | None:
    return _background


def stop_background() -> None:
    if _background is not None:
        _background.stop()


@contextmanager
def _target(name: str, url: URL) -> Iterator[tuple[str, dict[str, str]]]:
    """The suite's --dburi and environment for one target."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "AURORA_"))}
    if name == "psycopg":
        yield url.render_as_string(hide_password=False), env
        return
    # The emulator runs in a process of its own: in this one it would compete for the
    # GIL with the rest of the test suite.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 - closed below
    emulator = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "alex_db.testing.dataapi",
            "--database-url",
            url.render_as_string(hide_password=False),
            "--port",
            str(port),
            "--resource-arn",
            CLUSTER_ARN,
            "--secret-arn",
            SECRET_ARN,
            "--log-level",
            "WARNING",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                break
            if emulator.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                raise RuntimeError(f"the emulator did not start: {log.read()[-2000:]}")
            time.sleep(0.05)
        env.update(
            AWS_ENDPOINT_URL_RDS_DATA=f"http://127.0.0.1:{port}",
            AWS_ACCESS_KEY_ID="test",
            AWS_SECRET_ACCESS_KEY="test",
            AWS_REGION="us-east-1",
        )
        uri = URL.create(
            "postgresql+alexdataapi",
            database=url.database,
            query={"resource_arn": CLUSTER_ARN, "secret_arn": SECRET_ARN, "region": "us-east-1"},
        )
        yield uri.render_as_string(hide_password=False), env
    finally:
        emulator.terminate()
        try:
            emulator.wait(timeout=30)
        except subprocess.TimeoutExpired:
            emulator.kill()
            emulator.wait()
        log.close()
