"""The test machinery cleans up after itself: a throwaway server is stopped and removed on
SIGTERM, one left by a killed run is reaped at the next start, a bad ALEX_DB_TEST_URL
fails the run with one line, and the scratch databases' prefix is a setting."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from sqlalchemy import URL

from alex_db.embedded import process_alive
from alex_db.testing.plugin import database_prefix
from alex_db.testing.postgres import PostgresServer, reap_stale_servers

HOLD_A_SERVER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from alex_db.testing.postgres import find_server
    with find_server() as server:
        pid = int(open(next(Path(sys.argv[1]).glob("alex-db-test-*/pgdata/postmaster.pid"))).readline())
        print(pid, flush=True)
        time.sleep(120)
    """
)


def hold_a_server(tmp_path: Path) -> tuple[subprocess.Popen[str], int]:
    """A child process holding a throwaway server in ``tmp_path``; and the server's pid."""
    env = {k: v for k, v in os.environ.items() if k not in ("ALEX_DB_TEST_URL", "XDG_RUNTIME_DIR")}
    child = subprocess.Popen(
        [sys.executable, "-c", HOLD_A_SERVER, str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**env, "TMPDIR": str(tmp_path)},
    )
    assert child.stdout is not None
    line = child.stdout.readline()
    assert line.strip().isdigit(), child.stderr.read() if child.stderr else line
    return child, int(line)


def test_sigterm_stops_and_removes_the_throwaway_server(tmp_path: Path) -> None:
    child, postmaster = hold_a_server(tmp_path)
    assert process_alive(postmaster)
    child.send_signal(signal.SIGTERM)
    assert child.wait(timeout=60) != 0  # interrupted, and cleaned up on the way out
    assert child.stderr is not None
    assert "XDG_RUNTIME_DIR" not in child.stderr.read()  # the embedded server's warning is silenced
    assert list(tmp_path.glob("alex-db-test-*")) == []
    assert gone(postmaster)


def gone(pid: int, within_s: float = 15) -> bool:
    """The process ends within the time (a server finishing its shutdown)."""
    deadline = time.monotonic() + within_s
    while process_alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_a_server_left_by_a_killed_run_is_reaped_at_the_next_start(tmp_path: Path) -> None:
    child, postmaster = hold_a_server(tmp_path)
    child.kill()  # no chance to clean up
    child.wait(timeout=30)
    (left,) = tmp_path.glob("alex-db-test-*")
    assert process_alive(postmaster)
    assert reap_stale_servers(tmp_path) == [left]
    assert not left.exists()
    assert not process_alive(postmaster)
    assert reap_stale_servers(tmp_path) == []


def run_pytest(tmp_path: Path, test: str, **env: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_downstream.py").write_text(textwrap.dedent(test), encoding="utf-8")
    base = {k: v for k, v in os.environ.items() if not k.startswith("ALEX_DB_TEST")}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def test_a_bad_test_url_fails_the_run_with_one_line(tmp_path: Path) -> None:
    tests = """
        def test_one(alex_db):
            pass

        def test_two(alex_db):
            pass
    """
    result = run_pytest(tmp_path, tests, ALEX_DB_TEST_URL="postgresql://nobody@127.0.0.1:1/x")
    assert result.returncode == 4, result.stdout + result.stderr
    output = result.stdout + result.stderr
    assert "Traceback" not in output
    lines = [line for line in output.splitlines() if "no PostgreSQL server for the tests" in line]
    assert len(lines) == 1, output


def test_the_scratch_database_prefix_is_a_setting(
    tmp_path: Path, alex_db_server: PostgresServer
) -> None:
    tests = """
        def test_named(alex_db_url):
            assert alex_db_url.database.startswith("team_blue_"), alex_db_url.database
    """
    server = alex_db_server.url
    assert isinstance(server, URL)
    result = run_pytest(
        tmp_path,
        tests,
        ALEX_DB_TEST_URL=server.render_as_string(hide_password=False),
        ALEX_DB_TEST_DATABASE_PREFIX="team_blue",
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_prefix_that_is_not_a_database_name_is_a_usage_error(
    pytestconfig: pytest.Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALEX_DB_TEST_DATABASE_PREFIX", "Team-Blue")
    with pytest.raises(pytest.UsageError, match="must be lower-case letters, digits and _"):
        database_prefix(pytestconfig)
    monkeypatch.setenv("ALEX_DB_TEST_DATABASE_PREFIX", "team_red")
    assert database_prefix(pytestconfig) == "team_red"
