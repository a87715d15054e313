"""A fault-injecting TCP proxy between psycopg and PostgreSQL, for the tests.

It forwards bytes both ways and, once armed, cuts the connection when the client's
traffic contains a marker (``COMMIT``, b"INSERT INTO jobs"): ``before`` drops it
without forwarding (the server never sees the statement), ``after`` forwards it and
drops the server's answer (the statement ran; the client never hears so).
"""

from __future__ import annotations

import contextlib
import socket
import threading
from pathlib import Path
from typing import Literal

from sqlalchemy import URL

Mode = Literal["before", "after"]

# The simple-query message psycopg sends to commit (a bare b"COMMIT" would also match
# "BEGIN ISOLATION LEVEL READ COMMITTED").
COMMIT = b"Q\x00\x00\x00\x0bCOMMIT\x00"


def server_address(url: URL) -> tuple[int, str | tuple[str, int]]:
    """(family, address) of the server a psycopg URL names: a Unix socket or host:port."""
    socket_dir = url.query.get("host")
    if isinstance(socket_dir, str) and socket_dir.startswith("/"):
        found = sorted(Path(socket_dir).glob(".s.PGSQL.*"))
        if url.port:
            found = [p for p in found if p.name == f".s.PGSQL.{url.port}"]
        return socket.AF_UNIX, str(found[0])
    return socket.AF_INET, (url.host or "127.0.0.1", url.port or 5432)


class FaultProxy:
    def __init__(self, target: URL) -> None:
        self._family, self._address = server_address(target)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._armed: tuple[bytes, Mode] | None = None
        self._lock = threading.Lock()
        self.fired = 0
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def arm(self, marker: bytes, mode: Mode) -> None:
        """Cut the next connection whose client sends ``marker`` (once)."""
        with self._lock:
            self._armed = (marker, mode)

    def url(self, target: URL) -> URL:
        query = {k: v for k, v in target.query.items() if k != "host"}
        return target.set(host="127.0.0.1", port=self.port, query=query)

    def close(self) -> None:
        """Stop accepting: new connections are refused (the open ones stay)."""
        self._closed = True
        # shutdown() first: close() alone leaves a thread blocked in accept() holding the
        # socket, which goes on accepting.
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.socket(self._family, socket.SOCK_STREAM)
            server.connect(self._address)
            link = _Link(self, client, server)
            threading.Thread(target=link.upstream, daemon=True).start()
            threading.Thread(target=link.downstream, daemon=True).start()

    def _take(self, data: bytes) -> Mode | None:
        with self._lock:
            if self._armed is not None and self._armed[0] in data:
                mode = self._armed[1]
                self._armed = None
                self.fired += 1
                return mode
        return None


class _Link:
    def __init__(self, proxy: FaultProxy, client: socket.socket, server: socket.socket) -> None:
        self.proxy, self.client, self.server = proxy, client, server
        self.drop_answer = threading.Event()

    def cut(self) -> None:
        for s in (self.client, self.server):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    def upstream(self) -> None:
        try:
            while data := self.client.recv(65536):
                mode = self.proxy._take(data)
                if mode == "before":
                    self.cut()
                    return
                if mode == "after":
                    self.drop_answer.set()
                self.server.sendall(data)
        except OSError:
            pass
        self.cut()

    def downstream(self) -> None:
        try:
            while data := self.server.recv(65536):
                if self.drop_answer.is_set():  # the server answered: it ran the statement
                    self.cut()
                    return
                self.client.sendall(data)
        except OSError:
            pass
        self.cut()
