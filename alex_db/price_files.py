"""Price CSV files (``symbol,date,close_price[,volume]``) for ``alex-db load-prices``,
read as a stream: memory does not grow with the file.

The file is read once. Each row is validated here (a malformed one is reported with its
line) and the valid ones are staged on the server by
:meth:`alex_db.repositories.prices.PriceHistoryRepository.load`, which finds the
problems only the whole file shows (unknown symbols, a day given twice) and writes
everything, or nothing, in one transaction.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from pathlib import Path

from pydantic import ValidationError

from alex_db.schemas import PriceHistoryCreate

REQUIRED_COLUMNS = ("symbol", "date", "close_price")
OPTIONAL_COLUMNS = ("volume",)
EXPECTED_HEADER = "symbol,date,close_price[,volume]"
KEPT_PROBLEMS = 20  # the first ones are reported; the rest are counted


class HeaderError(ValueError):
    """The file's first line is not a valid header: nothing else was read."""


class PriceFile:
    """One CSV file of prices; ``progress`` (if given) is told how many bytes are read."""

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
                if not "".join(fields).strip():
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
