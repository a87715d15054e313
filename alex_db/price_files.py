"""Price CSV files (``symbol,date,close_price[,volume]``) for ``alex-db load-prices``,
read as a stream: memory does not grow with the file.

A file is read twice. The first pass checks everything and reports every problem with
its line number (malformed rows, unknown symbols, a (symbol, date) given twice), keeping
only what it needs to (the symbols, and one bit per symbol and day); the second pass,
run only when the first found nothing, writes the rows in chunks inside one transaction.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from alex_db.schemas import PriceHistoryCreate

REQUIRED_COLUMNS = ("symbol", "date", "close_price")
OPTIONAL_COLUMNS = ("volume",)
EXPECTED_HEADER = "symbol,date,close_price[,volume]"
KEPT_PROBLEMS = 20  # the first ones are reported; the rest are counted

# Days from 1900 to 2199 as one bit each per symbol (14 KB a symbol); a date outside
# that range is remembered in a set.
_FIRST_DAY = dt.date(1900, 1, 1).toordinal()
_DAYS = dt.date(2200, 1, 1).toordinal() - _FIRST_DAY


class HeaderError(ValueError):
    """The file's first line is not a valid header: nothing else was read."""


class ChangedWhileLoadingError(ValueError):
    """A row that passed the check is bad on the second pass: the file changed."""


@dataclass
class Check:
    """What the first pass found."""

    rows: int = 0
    problems: list[str] = field(default_factory=list)
    problem_count: int = 0
    first_line: dict[str, int] = field(default_factory=dict)  # symbol -> first line
    duplicates: set[tuple[str, dt.date]] = field(default_factory=set)

    def problem(self, message: str) -> None:
        self.problem_count += 1
        if len(self.problems) < KEPT_PROBLEMS:
            self.problems.append(message)


class _Days:
    """The days seen for each symbol (a bitmap per symbol)."""

    def __init__(self) -> None:
        self._bits: dict[str, bytearray] = {}
        self._others: set[tuple[str, int]] = set()

    def add(self, symbol: str, day: dt.date) -> bool:
        """Record the day; False if it was already recorded."""
        index = day.toordinal() - _FIRST_DAY
        if not 0 <= index < _DAYS:
            key = (symbol, index)
            seen = key in self._others
            self._others.add(key)
            return not seen
        bits = self._bits.get(symbol)
        if bits is None:
            bits = self._bits[symbol] = bytearray(_DAYS // 8 + 1)
        byte, bit = divmod(index, 8)
        if bits[byte] >> bit & 1:
            return False
        bits[byte] |= 1 << bit
        return True


class PriceFile:
    """One CSV file of prices; ``progress`` (if given) is told how many bytes are read."""

    def __init__(self, path: Path, progress: Callable[[int], None] | None = None) -> None:
        self.path = path
        self.size = path.stat().st_size
        self._progress = progress

    def _open(self) -> tuple[io.BufferedReader, io.TextIOWrapper]:
        raw = self.path.open("rb")
        return raw, io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")

    def columns(self) -> list[str]:
        """The header's column names, or ``HeaderError`` saying what is wrong."""
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

    def rows(self) -> Iterator[tuple[int, PriceHistoryCreate | str]]:
        """Each data row with its line number: the validated row, or what is wrong."""
        names = self.columns()
        raw, text = self._open()
        with raw, text:
            reader = csv.reader(text, strict=True)
            next(reader)
            reported = 0
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
                    position = raw.tell()
                    self._progress(position - reported)
                    reported = position
                if not any(f.strip() for f in fields):
                    continue
                if len(fields) != len(names):
                    yield line, f"expected {len(names)} fields, found {len(fields)}"
                    continue
                values: dict[str, str | None] = dict(zip(names, fields, strict=True))
                if not (values.get("volume") or "").strip():
                    values["volume"] = None
                try:
                    yield line, PriceHistoryCreate.model_validate(values)
                except ValidationError as exc:
                    yield (
                        line,
                        "; ".join(
                            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
                            for e in exc.errors()
                        ),
                    )
            if self._progress is not None:
                self._progress(self.size - reported)

    def check(self, known_symbols: Callable[[set[str]], set[str]]) -> Check:
        """The first pass: every problem, with its line. ``known_symbols`` is asked once,
        with the symbols the file names, for those that exist."""
        found = Check()
        days = _Days()
        for line, row in self.rows():
            if isinstance(row, str):
                found.problem(f"line {line}: {row}")
                continue
            found.rows += 1
            found.first_line.setdefault(row.symbol, line)
            if not days.add(row.symbol, row.date):
                found.duplicates.add((row.symbol, row.date))
        known = known_symbols(set(found.first_line)) if found.first_line else set()
        for symbol, line in sorted(found.first_line.items(), key=lambda kv: kv[1]):
            if symbol not in known:
                found.problem(f"line {line}: unknown symbol {symbol} (and any later rows of it)")
        if found.duplicates:
            for (symbol, day), lines in sorted(self._lines_of(found.duplicates).items()):
                found.problem(
                    f"lines {', '.join(map(str, lines))}: {symbol} on {day} appears "
                    f"{len(lines)} times"
                )
        return found

    def _lines_of(self, keys: set[tuple[str, dt.date]]) -> dict[tuple[str, dt.date], list[int]]:
        """The lines of the given (symbol, date) pairs (a third pass, only when a pair
        repeats)."""
        lines: dict[tuple[str, dt.date], list[int]] = {key: [] for key in keys}
        progress, self._progress = self._progress, None
        try:
            for line, row in self.rows():
                if not isinstance(row, str) and (row.symbol, row.date) in lines:
                    lines[(row.symbol, row.date)].append(line)
        finally:
            self._progress = progress
        return lines

    def chunks(self, size: int) -> Iterator[list[PriceHistoryCreate]]:
        """The second pass: the rows in chunks of ``size`` (a checked file has no bad row)."""
        chunk: list[PriceHistoryCreate] = []
        for line, row in self.rows():
            if isinstance(row, str):  # the file changed since it was checked
                raise ChangedWhileLoadingError(
                    f"line {line}: {row} (the file changed while loading)"
                )
            chunk.append(row)
            if len(chunk) == size:
                yield chunk
                chunk = []
        if chunk:
            yield chunk
