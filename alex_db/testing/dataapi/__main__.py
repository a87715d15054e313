"""``python -m alex_db.testing.dataapi --database-url URL --port 8080``: serve until interrupted."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import time
from types import FrameType

from sqlalchemy import make_url
from sqlalchemy.exc import ArgumentError

from alex_db.testing.dataapi.backend import EmulatorStartError
from alex_db.testing.dataapi.config import EmulatorConfig
from alex_db.testing.dataapi.server import DataAPIEmulator


def _shown(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(libpq connection string)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m alex_db.testing.dataapi",
        description="A local RDS Data API (rds-data) in front of a real PostgreSQL.",
    )
    parser.add_argument(
        "--database-url", required=True, help="PostgreSQL URL (any SQLAlchemy driver)"
    )
    parser.add_argument("--port", type=int, default=8080, help="0 picks a free port (default 8080)")
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)"
    )
    parser.add_argument("--resource-arn", help="accept only this cluster ARN (default: any)")
    parser.add_argument("--secret-arn", help="accept only this secret ARN (default: any)")
    defaults = EmulatorConfig()
    parser.add_argument("--statement-timeout", type=float, default=defaults.statement_timeout)
    parser.add_argument(
        "--transaction-idle-timeout", type=float, default=defaults.transaction_idle_timeout
    )
    parser.add_argument(
        "--post-error-policy", choices=["v2", "v1"], default=defaults.post_error_policy
    )
    parser.add_argument(
        "--auto-pause-after",
        type=float,
        help="simulate Serverless v2 auto-pause after this many idle seconds (default: off)",
    )
    parser.add_argument("--resume-duration", type=float, default=defaults.resume_duration)
    parser.add_argument(
        "--serve-any-database",
        action="store_true",
        help="let requests name any database on the server (default: only --database-url's)",
    )
    parser.add_argument("--log-level", default="WARNING")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(message)s")

    config = EmulatorConfig(
        statement_timeout=args.statement_timeout,
        transaction_idle_timeout=args.transaction_idle_timeout,
        post_error_policy=args.post_error_policy,
        auto_pause_after=args.auto_pause_after,
        resume_duration=args.resume_duration,
    )
    # A plain flag: a signal handler that takes a lock (threading.Event.set does) can
    # deadlock when a second signal arrives while it holds it.
    stopping = False

    def on_signal(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    emulator = DataAPIEmulator(
        args.database_url,
        host=args.host,
        port=args.port,
        config=config,
        resource_arn=args.resource_arn,
        secret_arn=args.secret_arn,
        serve_any_database=args.serve_any_database,
    )
    try:
        emulator.start()
    except EmulatorStartError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    try:
        print(f"RDS Data API emulator for {_shown(args.database_url)}")
        print(f"endpoint_url: {emulator.endpoint_url}")
        print(f"resourceArn:  {emulator.resource_arn}")
        print(f"secretArn:    {emulator.secret_arn}")
        print("Ctrl-C stops it (open transactions are rolled back).", flush=True)
        while not stopping:
            time.sleep(0.2)
    finally:
        emulator.stop()
    print("stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
