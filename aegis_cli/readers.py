"""Streaming readers of login events (the RBA CSV, JSONL of LoginEvent), one record at a time."""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from aegis.v1 import common_pb2 as pb
from aegis_cli.rba import COLUMN_OF_FIELD, HeaderError, RbaLayout
from aegis_domain.validation import TimeWindow, validate_event
from aegis_runtime.errors import InvalidArgument
from router_service.client.eventjson import parse_event_object
from router_service.client.rows import BadRow, ParsedRow, Problem, Row

if TYPE_CHECKING:
    from _csv import Reader as CsvReader

FORMATS = ("rba", "jsonl")
_FORMAT_OF_SUFFIX = {".csv": "rba", ".jsonl": "jsonl", ".ndjson": "jsonl"}
# Events may be historical (replays of old logs) but not from the future beyond the clock
# skew the router tolerates (its max_clock_skew_s default), so that the file is refused here
# rather than row by row there.
_FUTURE_SLACK_S = 300.0


class InputError(Exception):
    """The input as a whole cannot be read: missing, not UTF-8, or not the expected layout."""


def detect_format(path: Path, given: str | None = None) -> str:
    """`given` when set, else the format named by the file's extension."""
    if given is not None:
        if given not in FORMATS:
            raise InputError(f"unknown format {given!r}; expected one of {', '.join(FORMATS)}")
        return given
    fmt = _FORMAT_OF_SUFFIX.get(path.suffix.lower())
    if fmt is None:
        known = ", ".join(f"{s} ({f})" for s, f in _FORMAT_OF_SUFFIX.items())
        raise InputError(f"{path}: cannot tell the format from the extension (known: {known}); "
                         "pass --format rba|jsonl")
    return fmt


def accepted_window(now: float | None = None) -> TimeWindow:
    """Any past timestamp, and up to five minutes into the future."""
    return TimeWindow(earliest=0.0, latest=(time.time() if now is None else now) + _FUTURE_SLACK_S)


def read_events(path: Path, fmt: str, window: TimeWindow | None = None) -> Iterator[Row]:
    """Every record of the file in order, as a ParsedRow or a BadRow naming what is wrong.

    Lazily, one record at a time; raises InputError when the file as a whole is unusable.
    """
    window = window or accepted_window()
    if fmt == "rba":
        return read_rba(path, window)
    if fmt == "jsonl":
        return read_jsonl(path, window)
    raise InputError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")


def read_rba(path: Path, window: TimeWindow) -> Iterator[Row]:
    """The RBA dataset's CSV; labels (when the file has them) come apart from the event."""
    with _open_binary(path) as binary:
        reader = csv.reader(_decoded_lines(binary, path), strict=True)
        records = _csv_records(reader)
        first = next(records, None)
        if first is None:
            raise InputError(f"{path}: empty file; expected the RBA header")
        header_line, header = first
        if isinstance(header, Problem):
            raise InputError(f"{path}: line {header_line}: {header.message}")
        try:
            layout = RbaLayout(header)
        except HeaderError as exc:
            raise InputError(f"{path}: line {header_line}: {exc}") from None
        for row, (line, values) in enumerate(records, 1):
            if isinstance(values, Problem):
                yield BadRow(line, row, (values,))
                continue
            event, labels, problems = layout.parse(values)
            if event is not None:
                problems = _validate(event, window, COLUMN_OF_FIELD)
            if event is None or problems:
                yield BadRow(line, row, tuple(problems))
            else:
                yield ParsedRow(line, row, event, labels)


def read_jsonl(path: Path, window: TimeWindow) -> Iterator[Row]:
    """One LoginEvent in protobuf JSON per line, optionally with a `labels` object beside it.

    Blank lines are not records and are passed over.
    """
    with _open_binary(path) as binary:
        row = 0
        for line, text in enumerate(_decoded_lines(binary, path), 1):
            if not text.strip():
                continue
            row += 1
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as exc:
                problem = Problem("", f"not valid JSON: {exc.msg} (column {exc.colno})")
                yield BadRow(line, row, (problem,))
                continue
            event, labels, problems = parse_event_object(obj)
            if not problems:
                problems = _validate(event, window, {})
            if problems:
                yield BadRow(line, row, tuple(problems))
            else:
                yield ParsedRow(line, row, event, labels)


def _validate(
    event: pb.LoginEvent, window: TimeWindow, column_of_field: Mapping[str, str]
) -> list[Problem]:
    """The domain's own validation (the router applies the same), under the input's names."""
    try:
        validate_event(event, window, prefix="event")
    except InvalidArgument as exc:
        field = exc.field.removeprefix("event.")
        detail = exc.message.removeprefix(f"{exc.field}: ")
        return [Problem(column_of_field.get(field, field), detail)]
    return []


def _open_binary(path: Path) -> BinaryIO:
    try:
        return path.open("rb")
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror}") from None


def _decoded_lines(binary: BinaryIO, path: Path) -> Iterator[str]:
    """Lines decoded one by one, so that bad bytes are reported at their own line."""
    for number, raw in enumerate(binary, 1):
        try:
            yield raw.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError as exc:
            raise InputError(
                f"{path}: line {number}: not UTF-8 text ({exc.reason} at byte {exc.start})"
            ) from None


def _csv_records(reader: CsvReader) -> Iterator[tuple[int, list[str] | Problem]]:
    """(line where the record starts, its fields or why it is not CSV). A quoted field may
    span lines, so the start is taken from the reader's line count before each record."""
    start = 1
    while True:
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield start, Problem("", f"not valid CSV: {exc}")
        else:
            # A blank line carries no record.
            if values:
                yield start, values
        start = reader.line_num + 1
