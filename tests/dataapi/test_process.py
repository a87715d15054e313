"""The `python -m` entry point and clean shutdown (issue 4)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import IO, Any

import psycopg
import pytest
from botocore.exceptions import ConnectionClosedError, EndpointConnectionError
from sqlalchemy import URL

from alex_db.testing.dataapi import DataAPIEmulator
from tests.dataapi.support import Api, backends, make_client, port_of, wait_for

InThread = Callable[[Callable[[], Any]], AbstractContextManager[list[Any]]]


def _count(pg: psycopg.Connection[Any], table: str) -> int:
    row = pg.execute(f"SELECT count(*) FROM {table}").fetchone()
    assert row is not None
    return int(row[0])


def _read_until(stream: IO[str], pattern: str, timeout: float = 30) -> list[str]:
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = stream.readline()
        if not line:
            break
        lines.append(line.rstrip("\n"))
        if re.search(pattern, line):
            return lines
    raise AssertionError(f"no line matching {pattern!r} in {lines}")


@contextmanager
def _serve(*arguments: str) -> Iterator[tuple[subprocess.Popen[str], dict[str, str]]]:
    """Run the emulator as a real subprocess; yield it and what it printed about itself."""
    process = subprocess.Popen(
        [sys.executable, "-m", "alex_db.testing.dataapi", *arguments],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None
        lines = _read_until(process.stdout, r"^Ctrl-C")
        printed = dict(re.findall(r"^(\w+):\s+(\S+)$", "\n".join(lines), flags=re.MULTILINE))
        yield process, printed
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)


def _url(url: URL) -> str:
    return url.render_as_string(hide_password=False)


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_python_m_entry_point(
    dataapi_url: URL, pg: psycopg.Connection[Any], table: str, stop_signal: signal.Signals
) -> None:
    """Issue 4: `python -m alex_db.testing.dataapi --database-url URL --port N` serves until a signal,
    then rolls back what is open and exits 0."""
    with _serve("--database-url", _url(dataapi_url), "--port", "0") as (process, printed):
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", printed["endpoint_url"])
        assert printed["resourceArn"].startswith("arn:aws:rds:")
        assert printed["secretArn"].startswith("arn:aws:secretsmanager:")
        client = make_client(printed["endpoint_url"])
        arns = {"resourceArn": printed["resourceArn"], "secretArn": printed["secretArn"]}
        assert client.execute_statement(**arns, sql="SELECT db FROM marker")["records"] == [
            [{"stringValue": "main"}]
        ]
        transaction_id = client.begin_transaction(**arns)["transactionId"]
        client.execute_statement(
            **arns, sql=f"INSERT INTO {table} (qty) VALUES (1)", transactionId=transaction_id
        )
        port = int(printed["endpoint_url"].rsplit(":", 1)[1])
        assert backends(pg, port)  # the open transaction holds a session
        process.send_signal(stop_signal)
        assert process.wait(timeout=15) == 0
        assert process.stdout is not None
        assert "stopped" in process.stdout.read()
    assert _count(pg, table) == 0
    assert backends(pg, port) == []


def test_python_m_with_arns(dataapi_url: URL) -> None:
    """Issue 4: --resource-arn/--secret-arn are printed and enforced."""
    resource = "arn:aws:rds:us-east-1:123456789012:cluster:alex-dev"
    secret = "arn:aws:secretsmanager:us-east-1:123456789012:secret:alex-dev-XyZ123"
    arguments = [
        "--database-url",
        _url(dataapi_url),
        "--port",
        "0",
        "--resource-arn",
        resource,
        "--secret-arn",
        secret,
    ]
    with _serve(*arguments) as (process, printed):
        assert (printed["resourceArn"], printed["secretArn"]) == (resource, secret)
        client = make_client(printed["endpoint_url"])
        assert client.execute_statement(resourceArn=resource, secretArn=secret, sql="SELECT 1")[
            "records"
        ]
        other = resource.replace("alex-dev", "alex-prod")
        with pytest.raises(client.exceptions.HttpEndpointNotEnabledException):
            client.execute_statement(resourceArn=other, secretArn=secret, sql="SELECT 1")
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0


def test_python_m_requires_a_database_url() -> None:
    """Issue 4: without --database-url the command explains itself and fails."""
    result = subprocess.run(
        [sys.executable, "-m", "alex_db.testing.dataapi", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert "--database-url" in result.stderr


def test_python_m_rejects_malformed_arn(dataapi_url: URL) -> None:
    """Issue 4: a malformed --resource-arn is refused at start."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "alex_db.testing.dataapi",
            "--database-url",
            _url(dataapi_url),
            "--port",
            "0",
            "--resource-arn",
            "arn:aws:rds:nope",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode != 0
    assert "not a well-formed cluster ARN" in result.stderr


def test_stop_rolls_back_open_transactions(
    start_emulator: Callable[..., DataAPIEmulator],
    pg: psycopg.Connection[Any],
    table: str,
    in_thread: InThread,
) -> None:
    """Issue 4: stop() cancels running statements, rolls back open transactions and closes every session."""
    emulator = start_emulator()
    api = Api(emulator)
    port = port_of(emulator)
    idle = api.begin()
    api.execute(f"INSERT INTO {table} (qty) VALUES (1)", transactionId=idle)
    running = api.begin()
    api.execute(f"INSERT INTO {table} (qty) VALUES (2)", transactionId=running)
    client = make_client(emulator.endpoint_url, max_attempts=1)
    with in_thread(
        lambda: Api(emulator, client).execute("SELECT pg_sleep(30)", transactionId=running)
    ) as outcome:
        wait_for(
            lambda: any(s == "active" and "pg_sleep" in q for s, q in backends(pg, port)),
            what="sleep",
        )
        started = time.monotonic()
        emulator.stop()
        assert time.monotonic() - started < 5
    assert len(outcome) == 1
    assert isinstance(outcome[0], Exception)  # the in-flight call was cancelled, not left hanging
    assert _count(pg, table) == 0
    wait_for(lambda: backends(pg, port) == [], what="sessions to close")
    with pytest.raises(RuntimeError, match="not running"):
        _ = emulator.endpoint_url


def test_stop_is_idempotent_and_restart_refused(
    start_emulator: Callable[..., DataAPIEmulator],
) -> None:
    """Issue 4: stopping twice is harmless; starting a running emulator is an error."""
    emulator = start_emulator()
    with pytest.raises(RuntimeError, match="already running"):
        emulator.start()
    emulator.stop()
    emulator.stop()


def test_calls_after_shutdown_fail_cleanly(start_emulator: Callable[..., DataAPIEmulator]) -> None:
    """Issue 4: once stopped, the endpoint no longer answers."""
    emulator = start_emulator()
    client = make_client(emulator.endpoint_url, max_attempts=1)
    arns = {"resourceArn": emulator.resource_arn, "secretArn": emulator.secret_arn}
    assert client.execute_statement(**arns, sql="SELECT 1")["records"]
    emulator.stop()
    with pytest.raises((EndpointConnectionError, ConnectionClosedError)):
        client.execute_statement(**arns, sql="SELECT 1")


@pytest.mark.parametrize("run", range(3))
def test_a_storm_of_signals_always_stops_it(dataapi_url: URL, run: int) -> None:
    """It used to hang in 3 of 9 runs: the handler took a lock (threading.Event.set) and a
    second signal arriving inside it deadlocked. Now the handler only sets a flag."""
    with _serve("--database-url", _url(dataapi_url), "--port", "0") as (process, _):
        for n in range(40):
            process.send_signal(signal.SIGTERM if (n + run) % 2 else signal.SIGINT)
            time.sleep(0.001 * (run % 3))
        assert process.wait(timeout=15) == 0


def test_an_unreachable_database_fails_the_command_at_once(tmp_path: Any) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "alex_db.testing.dataapi",
            "--database-url",
            f"postgresql://nobody@/nowhere?host={tmp_path}",
            "--port",
            "0",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.startswith("error: the emulator's database 'nowhere' cannot be reached")
    assert "Traceback" not in result.stderr


def test_a_body_shorter_than_its_content_length_does_not_spin(
    emulator: DataAPIEmulator,
) -> None:
    """A client declared 8,000,000 bytes, sent 1 KB and closed: the drain loop read b''
    forever (a CPU at 100% after the client had gone)."""
    import socket

    host, port = "127.0.0.1", port_of(emulator)
    for declared in (8_000_000, 2_000):  # over the request limit (drained), and under it
        with socket.create_connection((host, port)) as client:
            client.sendall(
                b"POST /Execute HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                + f"Content-Length: {declared}\r\n\r\n".encode()
                + b"x" * 1024
            )
            client.shutdown(socket.SHUT_WR)
            client.settimeout(10)
            while client.recv(65536):  # whatever it answers, it closes
                pass
    started = time.process_time()
    time.sleep(1.0)
    # The whole test process (the emulator's threads included) stays nearly idle.
    assert time.process_time() - started < 0.5
    assert Api(emulator).value("SELECT db FROM marker") == {"stringValue": "main"}
