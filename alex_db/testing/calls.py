"""Counting the RDS Data API calls a piece of code makes, exactly, with botocore's
event hooks on the client it uses."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any


@dataclass
class DataAPICalls:
    """What a client sent while counting: operation names in order, and each request."""

    operations: list[str] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    request_bytes: list[int] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.operations)

    @property
    def by_operation(self) -> Counter[str]:
        return Counter(self.operations)

    def __len__(self) -> int:
        return self.total


@contextmanager
def count_data_api_calls(client: Any) -> Iterator[DataAPICalls]:
    """Record every call ``client`` (a boto3 ``rds-data`` client) makes in the block."""
    calls = DataAPICalls()

    def before_call(params: dict[str, Any], model: Any, **_: Any) -> None:
        calls.operations.append(model.name)
        body = params.get("body") or b"{}"
        calls.requests.append(json.loads(body) if isinstance(body, bytes | str) else dict(body))

    def before_send(request: Any, **_: Any) -> None:
        body = request.body or b""
        headers = sum(len(k) + len(v) for k, v in request.headers.items())
        calls.request_bytes.append(len(body) + headers)

    events = client.meta.events
    events.register("before-call.rds-data", before_call)
    events.register("before-send.rds-data", before_send)
    try:
        yield calls
    finally:
        events.unregister("before-call.rds-data", before_call)
        events.unregister("before-send.rds-data", before_send)
