"""`aegis replay FILE`: score every event of a file through the router's ScoreStream."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import itertools
import json
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from tqdm import tqdm

from aegis.v1 import router_pb2_grpc
from aegis.v1.common_pb2 import LoginEvent
from aegis_cli.argtypes import non_negative_int, positive_float, positive_int
from aegis_cli.errors import FAILURE, USAGE, CliError
from aegis_cli.output import print_json
from aegis_cli.readers import FORMATS, InputError, accepted_window, detect_format, read_events
from aegis_cli.refusal import Refusal
from aegis_cli.render import summary_text
from aegis_cli.resume import decided_lines
from aegis_cli.rpc import CLIENT, add_router_option, open_channel
from aegis_runtime.tls import TlsSettings
from router_service.client.rows import BadRow, Labels, ParsedRow, Row
from router_service.client.stream import (
    DEFAULT_MAX_IN_FLIGHT,
    DEFAULT_PER_MESSAGE,
    Outcome,
    StreamBroken,
    replay,
)
from router_service.client.summary import MALFORMED, ReplaySummary

# Valid rows of a checked file kept to be sent (CheckedRows): ~0.45 KB each, 90 MB at most.
KEPT_ROWS = 200_000


@dataclass(frozen=True, slots=True)
class ReplayOptions:
    """How to stream and what to report; shared with `aegis cluster run`."""

    router: str
    max_in_flight: int = DEFAULT_MAX_IN_FLIGHT
    per_message: int = DEFAULT_PER_MESSAGE
    idle_timeout_s: float = 30.0
    progress: bool = True
    out: Path | None = None
    # Add to `out` rather than replace it (--resume).
    append_out: bool = False
    json_summary: bool = False
    # Failed rows reported one by one on stderr before only counting them (malformed rows
    # are always reported: the user must be able to find each).
    errors_shown: int = 20
    # Certificates other than AEGIS_TLS_*'s (`aegis cluster run --tls`: the cluster's own).
    tls: TlsSettings | None = None


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add this command to `aegis`; the parsed arguments carry its handler."""
    parser = subparsers.add_parser(
        "replay",
        help="score every event of a file through the router (ScoreStream)",
        description="Stream the events of FILE through RouterService.ScoreStream with a "
        "bounded number in flight, then print a summary: actions, per-agent signal statuses, "
        "errors by code, decision latency p50/p99 and throughput. Malformed rows are never "
        "altered: they are refused (default) or skipped, each reported with its line number.",
    )
    parser.add_argument("file", type=Path, metavar="FILE",
                        help="RBA CSV (.csv) or JSONL of LoginEvent (.jsonl, .ndjson)")
    parser.add_argument("--format", choices=FORMATS, help="override the format the extension gives")
    add_router_option(parser)
    add_stream_options(parser)
    parser.add_argument(
        "--on-error", choices=("refuse", "skip"), default="refuse",
        help="refuse: check the whole file first and score nothing if any row is malformed; "
        "skip: report each malformed row on stderr and score the others (default %(default)s)",
    )
    parser.add_argument(
        "--resume", type=Path, metavar="OUT",
        help="continue an interrupted replay of FILE whose --out was OUT: rows OUT holds a "
        "decision for are not sent again, the others are (a row decided but not written to "
        "OUT gets its recorded decision back); OUT keeps its decided lines and gets the rest",
    )
    parser.add_argument("--limit", type=positive_int, metavar="N",
                        help="only the first N rows (records, malformed ones included)")
    parser.add_argument("--max-problems", type=non_negative_int, default=5, metavar="N",
                        help="with --on-error refuse, list the first N malformed rows (after "
                        "the count of problems by column); 0 for all (default %(default)s)")
    parser.set_defaults(handler=run)


def add_stream_options(parser: argparse.ArgumentParser) -> None:
    """Options of the stream and its report, shared with `aegis cluster run`."""
    parser.add_argument("--json", action="store_true",
                        help="print the summary as one JSON object on stdout")
    parser.add_argument("--out", type=Path, metavar="FILE",
                        help="write one JSON line per input row: line, row, event id and the "
                        "decision (id, action, risk, confidence) or the error")
    parser.add_argument("--max-in-flight", type=positive_int, default=DEFAULT_MAX_IN_FLIGHT,
                        metavar="N",
                        help="requests awaiting their reply at most (default %(default)s)")
    parser.add_argument("--per-message", type=positive_int, default=DEFAULT_PER_MESSAGE,
                        metavar="N",
                        help="requests packed in one stream message at most; 1 for a router "
                        "that predates packing (default %(default)s)")
    parser.add_argument("--idle-timeout", type=positive_float, default=30.0, metavar="SECONDS",
                        help="give up when the router answers nothing for this long while "
                        "requests wait (default %(default)s)")
    parser.add_argument("--no-progress", dest="progress", action="store_false",
                        help="no progress bar (it shows only when stderr is a terminal)")


def options_from_args(args: argparse.Namespace, router: str) -> ReplayOptions:
    return ReplayOptions(
        router=router, max_in_flight=args.max_in_flight, per_message=args.per_message,
        idle_timeout_s=args.idle_timeout,
        progress=args.progress, out=args.out, json_summary=args.json,
    )


def run(args: argparse.Namespace) -> int:
    """Exit 0 when every row got a decision, 1 when some did not, 2 when refused."""
    try:
        fmt = detect_format(args.file, args.format)
    except InputError as exc:
        raise CliError(str(exc), USAGE) from None
    window = accepted_window()
    if args.resume and args.out and args.out != args.resume:
        raise CliError("--resume OUT writes to OUT: give no other --out", USAGE)

    def rows() -> Iterator[Row]:
        return itertools.islice(read_events(args.file, fmt, window), args.limit)

    total = None
    todo: Iterable[Row] | None = None
    if args.on_error == "refuse":
        checked = refuse_malformed(args.file, _guard(rows()), args.max_problems, args.json)
        total, todo = len(checked), checked.rows()
    options = options_from_args(args, args.router)
    if todo is None:
        todo = _guard(rows())
    if args.resume:
        done = decided_lines(args.resume)
        print(f"resuming: {len(done)} rows already decided in {args.resume}", file=sys.stderr)
        todo = (row for row in todo if row.line not in done)
        total = None if total is None else max(total - len(done), 0)
        options = dataclasses.replace(options, out=args.resume, append_out=True)
    return report(score_rows(todo, options, total), options)


class CheckedRows:
    """The rows of a file found valid, kept to be sent without reading and parsing the file
    a second time (parsing was most of a replay client's CPU): as wire bytes, a tenth of a
    parsed row's memory, up to KEPT_ROWS of them. A longer file is read again."""

    def __init__(self) -> None:
        self.count = 0
        self._kept: list[tuple[int, int, bytes, Labels | None]] | None = []

    def __len__(self) -> int:
        return self.count

    def add(self, row: ParsedRow) -> None:
        self.count += 1
        if self._kept is not None:
            self._kept.append((row.line, row.row, row.event.SerializeToString(), row.labels))
            if len(self._kept) > KEPT_ROWS:
                self._kept = None

    def rows(self) -> Iterator[ParsedRow] | None:
        """The rows again, in order; None when there were too many to keep."""
        if self._kept is None:
            return None
        return (ParsedRow(line, row, LoginEvent.FromString(data), labels)
                for line, row, data, labels in self._kept)


def refuse_malformed(path: Path, rows: Iterable[Row], max_problems: int,
                     as_json: bool = False) -> CheckedRows:
    """The rows when all are valid; otherwise report the bad ones (on stderr, or under --json
    in the error document) and refuse."""
    refusal = Refusal(path, max_problems)
    checked = CheckedRows()
    for row in rows:
        refusal.rows += 1
        if isinstance(row, BadRow):
            refusal.add(row)
        elif not refusal.malformed:
            checked.add(row)
    if refusal.malformed:
        if not as_json:
            print(refusal.text(), file=sys.stderr)
        raise CliError(refusal.message, USAGE, details=refusal.to_json())
    return checked


def score_rows(rows: Iterable[Row], options: ReplayOptions, total: int | None) -> ReplaySummary:
    """Stream `rows` to the router and return the summary. A failed stream or an input that
    turns unreadable ends the replay early; `summary.stopped` says why."""
    summary = ReplaySummary()
    with contextlib.ExitStack() as stack:
        out = (stack.enter_context(_open_out(options.out, options.append_out))
               if options.out else None)
        bar = stack.enter_context(tqdm(
            total=total, unit="ev", file=sys.stderr, dynamic_ncols=True,
            disable=None if options.progress else True,
        ))
        reporter = _Reporter(bar, out, options.errors_shown)
        try:
            asyncio.run(_stream(rows, options, summary, reporter))
        except StreamBroken as exc:
            summary.stopped = f"the stream to the router at {options.router} failed: {exc}"
        except CliError as exc:
            summary.stopped = exc.message
    return summary


def report(summary: ReplaySummary, options: ReplayOptions) -> int:
    """Print the summary; exit 0 only when every row got a decision."""
    if options.json_summary:
        print_json(summary.to_json())
    else:
        print(summary_text(summary))
    if summary.stopped:
        print(f"aegis: error: {summary.stopped}", file=sys.stderr)
    return 0 if summary.failed == 0 and not summary.stopped else FAILURE


async def _stream(
    rows: Iterable[Row], options: ReplayOptions, summary: ReplaySummary, reporter: _Reporter
) -> None:
    async with open_channel(
        options.router, peer="router", caller=CLIENT, tls=options.tls
    ) as channel:
        await replay(
            router_pb2_grpc.RouterServiceStub(channel), rows, summary, reporter,
            max_in_flight=options.max_in_flight, idle_timeout_s=options.idle_timeout_s,
            per_message=options.per_message,
        )


class _Reporter:
    """Takes each outcome: advances the bar, writes --out, reports failures on stderr."""

    def __init__(self, bar: tqdm, out: TextIO | None, errors_shown: int) -> None:
        self.bar = bar
        self.out = out
        self.errors_left = errors_shown

    def __call__(self, outcome: Outcome) -> None:
        self.bar.update(1)
        if self.out is not None:
            self.out.write(json.dumps(outcome.to_json(), sort_keys=True) + "\n")
        if outcome.error_code == MALFORMED:
            self.bar.write(f"skipped {outcome.error_message}", file=sys.stderr)
        elif outcome.error_code:
            self._error(outcome)

    def _error(self, outcome: Outcome) -> None:
        self.errors_left -= 1
        if self.errors_left >= 0:
            field = f" ({outcome.error_field})" if outcome.error_field else ""
            self.bar.write(
                f"line {outcome.line}: {outcome.error_code}{field}: {outcome.error_message}",
                file=sys.stderr,
            )
        elif self.errors_left == -1:
            self.bar.write("further errors are only counted in the summary", file=sys.stderr)


def _guard(rows: Iterable[Row]) -> Iterator[Row]:
    """An unreadable input (not UTF-8, wrong header) becomes a usage error."""
    try:
        yield from rows
    except InputError as exc:
        raise CliError(str(exc), USAGE) from None


def _open_out(path: Path, append: bool) -> TextIO:
    try:
        return path.open("a" if append else "w", encoding="utf-8")
    except OSError as exc:
        raise CliError(f"{path}: cannot write: {exc.strerror}") from None
