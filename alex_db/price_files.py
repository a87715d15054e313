"""Price CSV files (``symbol,date,close_price[,volume]``) for ``alex-db load-prices``,
read as a stream: memory does not grow with the file.

Each row comes out checked, as a :data:`PriceRecord` (the row as canonical text, ready
for the server) or as what is wrong with it, with its line number.
:meth:`alex_db.repositories.prices.PriceHistoryRepository.load_file` writes the
records, finds what only the whole file shows (unknown symbols, a day given twice) and
writes everything or nothing.

The rules are :class:`~alex_db.schemas.PriceHistoryCreate`'s. Validating 2,000,000 rows
through it costs about 16 µs a row here, more than the server takes to store one, so
the common row takes a shortcut that gives the same result: a symbol or a date already
validated is looked up (the schema checks each field on its own, so the same text
always gives the same value), and a price or volume written plainly (``123.4567``,
``1000``) is recognised by a pattern every such text passes the schema with. Anything
else goes through the schema itself. ``tests/test_price_files.py`` holds the two to
the same results.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Generator
from pathlib import Path

from pydantic import ValidationError

from alex_db.errors import InvalidInputError
from alex_db.schemas import PriceHistoryCreate

REQUIRED_COLUMNS = ("symbol", "date", "close_price")
OPTIONAL_COLUMNS = ("volume",)
EXPECTED_HEADER = "symbol,date,close_price[,volume]"
KEPT_PROBLEMS = 20  # the first ones are reported; the rest are counted

PriceRecord = tuple[str, str, int, str, str | None]
"""A valid row as canonical text: symbol, ISO date, the date's ordinal, close price,
volume (None when not given). Plain digits, letters and punctuation only: no tab,
backslash or line break, so it goes into COPY's text format as it is."""

# Prices the schema accepts as written (non-negative, at most 8 + 4 digits, no leading
# zero), and volumes (non-negative, at most 18 digits: below 2**63).
_PLAIN_PRICE = re.compile(r"(?:0|[1-9][0-9]{0,7})(?:\.[0-9]{1,4})?")
_PLAIN_VOLUME = re.compile(r"0|[1-9][0-9]{0,17}")
_CACHED = 100_000  # symbols and dates remembered, each; a file with more still loads


class HeaderError(InvalidInputError):
    """The file's first line is not a valid header: nothing else was read."""


def record_of(row: PriceHistoryCreate) -> PriceRecord:
    """A validated row as a record."""
    return (
        row.symbol,
        row.date.isoformat(),
        row.date.toordinal(),
        str(row.close_price),
        None if row.volume is None else str(row.volume),
    )


class PriceFile:
    """One CSV file of prices; ``progress`` (if given) is told how far into the file
    the current reading is, in bytes."""

    def __init__(self, path: Path, progress: Callable[[int], None] | None = None) -> None:
        self.path = path
        self.size = path.stat().st_size
        self._progress = progress
        self._names: list[str] | None = None

    def _open(self) -> tuple[io.BufferedReader, io.TextIOWrapper]:
        raw = self.path.open("rb")
        return raw, io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")

    def columns(self) -> list[str]:
        """The header's column names, or ``HeaderError`` saying what is wrong."""
        if self._names is None:
            self._names = self._read_header()
        return self._names

    def _read_header(self) -> list[str]:
        raw, text = self._open()
        with raw, text:
            try:
                header = next(csv.reader(text, strict=True), None)
            except csv.Error as exc:
                raise HeaderError(f"line 1: {exc}") from None
        if header is None:
            raise HeaderError("line 1: the file is empty; expected a header row")
        names = [h.strip().lower() for h in header]
        unknown = sorted(set(names) - {*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS})
        missing = [c for c in REQUIRED_COLUMNS if c not in names]
        details = [f"unknown {', '.join(unknown)}"] if unknown else []
        details += [f"missing {', '.join(missing)}"] if missing else []
        details += [] if len(set(names)) == len(names) else ["a column appears twice"]
        if details:
            raise HeaderError(
                f"line 1: the header must be {EXPECTED_HEADER} ({'; '.join(details)})"
            )
        return names

    @property
    def has_volume(self) -> bool:
        return "volume" in self.columns()

    def records(self) -> Generator[tuple[int, PriceRecord | str]]:
        """Each data row with its line number: the record, or what is wrong with it.
        Blank rows are skipped. Each call reads the file again from the start."""
        names = self.columns()
        width = len(names)
        at = {name: i for i, name in enumerate(names)}
        s_at, d_at, p_at, v_at = at["symbol"], at["date"], at["close_price"], at.get("volume")
        symbols: dict[str, str] = {}  # text as written -> the schema's symbol
        days: dict[str, tuple[str, int]] = {}  # text as written -> ISO date, ordinal
        plain_price, plain_volume = _PLAIN_PRICE.fullmatch, _PLAIN_VOLUME.fullmatch
        raw, text = self._open()
        with raw, text:
            reader = csv.reader(text, strict=True)
            next(reader)
            while True:
                try:
                    fields = next(reader)
                except StopIteration:
                    break
                except csv.Error as exc:
                    yield reader.line_num, str(exc)
                    break  # the rest of the file cannot be split into rows reliably
                line = reader.line_num
                if self._progress is not None and line % 1000 == 0:
                    self._progress(raw.tell())
                if len(fields) == width:
                    symbol, day = symbols.get(fields[s_at]), days.get(fields[d_at])
                    price, volume = fields[p_at], "" if v_at is None else fields[v_at]
                    if (
                        symbol is not None
                        and day is not None
                        and plain_price(price)
                        and (not volume or plain_volume(volume))
                    ):
                        yield line, (symbol, day[0], day[1], price, volume or None)
                        continue
                found = self._checked(fields, names, symbols, days)
                if found is not None:
                    yield line, found
            if self._progress is not None:
                self._progress(self.size)

    @staticmethod
    def _checked(
        fields: list[str],
        names: list[str],
        symbols: dict[str, str],
        days: dict[str, tuple[str, int]],
    ) -> PriceRecord | str | None:
        """A row through the schema (None: a blank row); a valid one's symbol and date
        are remembered for the rows after it."""
        if not "".join(fields).strip():
            return None
        if len(fields) != len(names):
            return f"expected {len(names)} fields, found {len(fields)}"
        values = dict(zip(names, fields, strict=True))
        checked = check_row(values)
        if isinstance(checked, str):
            return checked
        record = record_of(checked)
        if len(symbols) < _CACHED:
            symbols[values["symbol"]] = record[0]
        if len(days) < _CACHED:
            days[values["date"]] = record[1], record[2]
        return record


def check_row(values: dict[str, str]) -> PriceHistoryCreate | str:
    """One row through the schema: the validated row, or what is wrong with it. An
    empty (or blank) volume means none was given."""
    fields: dict[str, str | None] = dict(values)
    if not (fields.get("volume") or "").strip():
        fields["volume"] = None
    try:
        return PriceHistoryCreate.model_validate(fields)
    except ValidationError as exc:
        return "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
