"""The HTTP side: rds-data's REST-JSON routes, plus ``/_emulator/...`` to drive it.

Errors travel as botocore expects them (docs/data-api.md §4.2): the code in the
``x-amzn-ErrorType`` header, ``{"message": ...}`` in the body, the model's
HTTP status.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self
from urllib.parse import urlsplit

from sqlalchemy import URL, make_url

from alex_db.testing.dataapi import errors
from alex_db.testing.dataapi.backend import Backend
from alex_db.testing.dataapi.config import EmulatorConfig
from alex_db.testing.dataapi.errors import ApiError
from alex_db.testing.dataapi.service import Service

logger = logging.getLogger(__name__)

ROUTES = {
    "/Execute": errors.EXECUTE,
    "/BatchExecute": errors.BATCH,
    "/BeginTransaction": errors.BEGIN,
    "/CommitTransaction": errors.COMMIT,
    "/RollbackTransaction": errors.ROLLBACK,
    "/ExecuteSql": errors.EXECUTE_SQL,
}
CONTROL_PREFIX = "/_emulator"  # botocore never sends a path like this


def libpq_url(database_url: str | URL) -> str:
    """A libpq connection string from a SQLAlchemy URL (any driver) or a libpq URL/conninfo."""
    if isinstance(database_url, URL):
        url = database_url
    elif "://" in database_url:
        url = make_url(database_url)
    else:
        return database_url  # key=value conninfo
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], emulator: DataAPIEmulator) -> None:
        self.emulator = emulator
        self.clients: set[socket.socket] = set()
        self.clients_lock = threading.Lock()
        super().__init__(address, _Handler)

    def close_clients(self) -> None:
        """End keep-alive connections so their handler threads exit."""
        with self.clients_lock:
            clients = list(self.clients)
        for sock in clients:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as botocore's connection pool expects
    server: _HttpServer
    timeout = 300  # an idle keep-alive connection is dropped after this
    disable_nagle_algorithm = True  # headers and body go out as separate writes

    def setup(self) -> None:
        super().setup()
        with self.server.clients_lock:
            self.server.clients.add(self.connection)

    def finish(self) -> None:
        with self.server.clients_lock:
            self.server.clients.discard(self.connection)
        super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s - %s", self.address_string(), format % args)

    # -- plumbing ------------------------------------------------------------------

    def _send(self, status: int, body: bytes, code: str | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        if code is not None:
            self.send_header("x-amzn-ErrorType", code)
        self.end_headers()
        self.wfile.write(body)

    def _send_error(self, error: ApiError) -> None:
        body = json.dumps(error.body(), ensure_ascii=False).encode()
        self._send(error.status, body, error.code)

    def _read_body(self) -> bytes | None:
        """The request body, or None after answering an oversized request."""
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0:
            self.close_connection = True  # the body's end is unknown
            self._send_error(ApiError("SerializationException", "Invalid Content-Length"))
            return None
        head = len(self.requestline) + 4 + sum(len(k) + len(v) + 4 for k, v in self.headers.items())
        size, limit = head + length, self.server.emulator.config.max_request_bytes
        if size <= limit:
            body = self.rfile.read(length)
            if len(body) < length:  # the client closed before sending it all: nobody to answer
                self.close_connection = True
                return None
            return body
        while length > 0:  # drain it, so the client reads our answer instead of a reset
            chunk = self.rfile.read(min(length, 1 << 16))
            if not chunk:  # the client is gone (it declared more than it sent)
                self.close_connection = True
                return None
            length -= len(chunk)
        # The front end's answer is not documented (docs/data-api.md §5.1): 413 with a
        # code of its own, like other AWS front ends.
        self._send_error(
            ApiError(
                "RequestEntityTooLargeException",
                f"Request of {size} bytes exceeds the limit of {limit} bytes",
            )
        )
        return None

    # -- routes ----------------------------------------------------------------------

    def do_POST(self) -> None:
        path = urlsplit(self.path).path
        body = self._read_body()
        if body is None:
            return
        if path.startswith(CONTROL_PREFIX):
            self._control("POST", path, body)
            return
        operation = ROUTES.get(path)
        if operation is None:
            self._send_error(ApiError("UnknownOperationException", f"No operation at {path}"))
            return
        if not self.headers.get("Authorization", "").startswith("AWS4-HMAC-SHA256 "):
            self.server.emulator.service.count(operation)
            self._send_error(
                ApiError("MissingAuthenticationTokenException", "Missing Authentication Token")
            )
            return
        self._dispatch(operation, body)

    def _dispatch(self, operation: str, body: bytes) -> None:
        drop = self.server.emulator.service.faults.take_drop(operation)
        if drop == "before":  # the request is lost: nothing runs, no answer
            self._hang_up()
            return
        try:
            response = self.server.emulator.service.call(operation, body)
        except ApiError as exc:
            if drop == "after":
                self._hang_up()
                return
            self._send_error(exc)
        except Exception:
            logger.exception("unexpected failure in %s", operation)
            self._send_error(ApiError("InternalServerErrorException"))
        else:
            if drop == "after":  # it ran; the answer is lost
                self._hang_up()
                return
            self._send(200, response)

    def _hang_up(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def do_GET(self) -> None:
        self._control("GET", urlsplit(self.path).path, b"")

    def do_DELETE(self) -> None:
        self._control("DELETE", urlsplit(self.path).path, b"")

    def _control(self, method: str, path: str, body: bytes) -> None:
        """``/_emulator`` (state), ``/_emulator/calls`` (counters), ``/_emulator/faults``."""
        emulator = self.server.emulator
        try:
            if path == f"{CONTROL_PREFIX}/calls" and method in ("GET", "DELETE"):
                if method == "DELETE":
                    emulator.reset_counts()
                answer: dict[str, Any] = {"calls": emulator.call_counts}
            elif path == f"{CONTROL_PREFIX}/faults" and method in ("GET", "POST", "DELETE"):
                if method == "DELETE":
                    emulator.reset_faults()
                elif method == "POST":
                    emulator.set_faults(json.loads(body or b"{}"))
                answer = emulator.service.faults.snapshot()
            elif path == CONTROL_PREFIX and method == "GET":
                answer = {
                    "endpointUrl": emulator.endpoint_url,
                    "resourceArn": emulator.resource_arn,
                    "secretArn": emulator.secret_arn,
                    "openTransactions": emulator.open_transactions,
                }
            else:
                self._send_error(ApiError("UnknownOperationException", f"No {method} at {path}"))
                return
        except (ValueError, TypeError) as exc:
            self._send_error(ApiError("ValidationException", str(exc)))
            return
        self._send(200, json.dumps(answer).encode())


class DataAPIEmulator:
    """A local RDS Data API (rds-data) in front of a real PostgreSQL.

    ``database_url`` is the server and the database the emulated cluster holds (a
    SQLAlchemy URL with any driver, or a libpq URL). A request's ``database`` member
    may name only that database (any other "does not exist" in this cluster), unless
    ``serve_any_database`` lets it select any database on the same server. The
    database is checked at ``start()``: one that cannot be reached fails there, not at
    the first request. Without ``resource_arn``/``secret_arn``
    any well-formed cluster/secret ARN pair is accepted and the properties give
    a ready-made pair; with them, only that pair is.
    """

    def __init__(
        self,
        database_url: str | URL,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        config: EmulatorConfig | None = None,
        resource_arn: str | None = None,
        secret_arn: str | None = None,
        serve_any_database: bool = False,
    ) -> None:
        self.config = config or EmulatorConfig()
        self._database_url = libpq_url(database_url)
        self._serve_any_database = serve_any_database
        self._host = host
        self._port = port
        self._resource_arn = resource_arn
        self._secret_arn = secret_arn
        self._httpd: _HttpServer | None = None
        self._thread: threading.Thread | None = None
        self._service: Service | None = None

    # -- lifecycle ------------------------------------------------------------------

    def start(self) -> Self:
        if self._httpd is not None:
            raise RuntimeError("the emulator is already running")
        httpd = _HttpServer((self._host, self._port), self)
        port = httpd.server_address[1]
        backend = Backend(
            self._database_url,
            self.config,
            application_name=f"alex-db-dataapi:{port}",
            serve_any_database=self._serve_any_database,
        )
        try:
            backend.check()
        except BaseException:
            backend.close()
            httpd.server_close()
            raise
        self._service = Service(backend, self.config, self._resource_arn, self._secret_arn)
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="dataapi-http",
            daemon=True,
        )
        self._thread.start()
        logger.info("RDS Data API emulator listening on %s", self.endpoint_url)
        return self

    def stop(self) -> None:
        """Stop serving, cancel running statements, roll back open transactions."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        self.service.backend.close()
        httpd.close_clients()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- what clients need ------------------------------------------------------------

    @property
    def service(self) -> Service:
        if self._service is None:
            raise RuntimeError(
                "the emulator is not running; call start() or use it as a context manager"
            )
        return self._service

    def client(self, *, retries: int = 1) -> Any:
        """A real boto3 ``rds-data`` client pointed at this emulator (test credentials;
        botocore retries off unless ``retries`` > 1, as alex_db's own client has them)."""
        import boto3
        from botocore.config import Config

        return boto3.client(
            "rds-data",
            endpoint_url=self.endpoint_url,
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",  # noqa: S106 - the emulator checks no signature
            config=Config(retries={"mode": "standard", "total_max_attempts": retries}),
        )

    @property
    def endpoint_url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("the emulator is not running")
        host, port = self._host, self._httpd.server_address[1]
        if host in ("0.0.0.0", "::", ""):  # noqa: S104 - listening everywhere; loopback reaches it
            host = "127.0.0.1"
        return f"http://{host}:{port}"

    @property
    def resource_arn(self) -> str:
        return self.service.resource_arn

    @property
    def secret_arn(self) -> str:
        return self.service.secret_arn

    @property
    def open_transactions(self) -> int:
        return self.service.backend.open_transactions

    # -- counters and faults ------------------------------------------------------------

    @property
    def call_counts(self) -> dict[str, int]:
        """Calls received per operation, e.g. ``{"ExecuteStatement": 4, "BeginTransaction": 1}``."""
        return self.service.call_counts

    def reset_counts(self) -> None:
        self.service.reset_counts()

    def fail_next(self, count: int, code: str = "DatabaseResumingException") -> None:
        """Fail the next ``count`` calls that the model lets fail with ``code``.

        For the default, DatabaseResumingException, those are ExecuteStatement,
        BatchExecuteStatement and BeginTransaction, never Commit or Rollback.
        """
        self.service.faults.fail_next(count, code)

    @property
    def http_endpoint_enabled(self) -> bool:
        return self.service.faults.http_endpoint_enabled

    @http_endpoint_enabled.setter
    def http_endpoint_enabled(self, enabled: bool) -> None:
        self.service.faults.http_endpoint_enabled = enabled

    @property
    def secret_valid(self) -> bool:
        return self.service.faults.secret_valid

    @secret_valid.setter
    def secret_valid(self, valid: bool) -> None:
        self.service.faults.secret_valid = valid

    def drop_next(self, operation: str, when: str) -> None:
        """Lose the next ``operation`` call (``"CommitTransaction"``, ``"ExecuteStatement"``,
        ...): ``"before"`` it runs, or ``"after"`` it ran (the answer is lost)."""
        self.service.faults.drop_next(operation, when)

    def reset_faults(self) -> None:
        self.service.faults.reset()

    def set_faults(self, changes: dict[str, Any]) -> None:
        """Apply ``{"failNext": n, "code": ..., "httpEndpointEnabled": b, "secretValid": b}``."""
        if not isinstance(changes, dict):
            raise TypeError("expected a JSON object")
        unknown = set(changes) - {"failNext", "code", "httpEndpointEnabled", "secretValid"}
        if unknown:
            raise ValueError(f"unknown fault settings: {sorted(unknown)}")
        for key in ("httpEndpointEnabled", "secretValid"):
            if key in changes and not isinstance(changes[key], bool):
                raise TypeError(f"{key} must be true or false")
        if "failNext" in changes:
            count = changes["failNext"]
            if not isinstance(count, int) or isinstance(count, bool):
                raise TypeError("failNext must be an integer")
            self.fail_next(count, changes.get("code", "DatabaseResumingException"))
        if "httpEndpointEnabled" in changes:
            self.http_endpoint_enabled = changes["httpEndpointEnabled"]
        if "secretValid" in changes:
            self.secret_valid = changes["secretValid"]
