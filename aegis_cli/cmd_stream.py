"""`aegis stream put FILE` / `aegis stream tail`: logins onto the ingest input stream, and
the decisions the stream consumer publishes (docs/streaming.md)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from aegis.v1 import common_pb2
from aegis_cli.errors import FAILURE, USAGE, CliError
from aegis_cli.output import message_json
from aegis_cli.readers import FORMATS, InputError, detect_format, read_events
from ingest_service.clients import make_clients
from ingest_service.publish import put_all
from ingest_service.settings import IngestSettings
from router_service.client.rows import ParsedRow, Row

# Records per PutRecords call (Kinesis takes at most 500).
_PUT_CHUNK = 500
# How long the put of one chunk retries the records Kinesis refused (throttling).
_PUT_RETRY_S = 30.0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add this command to `aegis`; the parsed arguments carry its handler."""
    parser = subparsers.add_parser(
        "stream",
        help="put logins on the ingest input stream, or tail the decisions",
        description="The Kinesis streams of the stream consumer: names, endpoint and region "
        "from AEGIS_INGEST_* (INPUT_STREAM, OUTPUT_STREAM, AWS_ENDPOINT_URL, AWS_REGION), "
        "credentials from the standard AWS chain.",
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    put = actions.add_parser(
        "put", help="publish a JSONL or RBA CSV file to the input stream",
        description="One serialized LoginEvent per valid row, partition key = user id, in "
        "file order. Invalid rows are named on stderr and left out (exit 1).",
    )
    put.add_argument("file", type=Path, metavar="FILE")
    put.add_argument("--format", choices=FORMATS,
                     help="rba or jsonl (default: from the extension)")
    put.add_argument("--stream", help="the input stream (default AEGIS_INGEST_INPUT_STREAM)")
    put.set_defaults(handler=run_put)
    tail = actions.add_parser(
        "tail", help="print decisions as they arrive on the output stream",
        description="One JSON document per line per decision (the --json layout of "
        "`aegis score`); a login read twice by the consumer may show twice, with one "
        "decision id.",
    )
    tail.add_argument("--stream", help="the output stream (default AEGIS_INGEST_OUTPUT_STREAM)")
    tail.add_argument("--from-start", action="store_true",
                      help="from the oldest record kept, not only new ones")
    tail.add_argument("--no-follow", action="store_true",
                      help="stop once every shard has been read to its end")
    tail.add_argument("--limit", type=int, metavar="N", help="stop after N decisions")
    tail.set_defaults(handler=run_tail)


def run_put(args: argparse.Namespace) -> int:
    """Exit 0 when every row was put, 1 when some were invalid (the rest were put)."""
    settings = IngestSettings()
    stream = args.stream or settings.input_stream
    try:
        rows = read_events(args.file, detect_format(args.file, args.format))
        kinesis, _ = make_clients(settings)
        put = bad = 0
        for chunk in _chunks(_valid_entries(rows, args.file)):
            put_all(kinesis, stream, [e for e in chunk if e is not None], _PUT_RETRY_S)
            put += sum(e is not None for e in chunk)
            bad += sum(e is None for e in chunk)
    except InputError as exc:
        raise CliError(str(exc), USAGE) from None
    print(f"put {put} logins on {stream}" + (f"; {bad} invalid rows left out" if bad else ""),
          file=sys.stderr)
    return FAILURE if bad else 0


def _valid_entries(rows: Iterator[Row], path: Path) -> Iterator[dict[str, Any] | None]:
    """Each row's PutRecords entry; None (named on stderr) for an invalid row."""
    for row in rows:
        if isinstance(row, ParsedRow):
            yield {"Data": row.event.SerializeToString(), "PartitionKey": row.event.user_id}
        else:
            print(f"{path}: {row}", file=sys.stderr)
            yield None


def _chunks(entries: Iterator[dict[str, Any] | None]) -> Iterator[list[dict[str, Any] | None]]:
    chunk: list[dict[str, Any] | None] = []
    for entry in entries:
        chunk.append(entry)
        if len(chunk) == _PUT_CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def run_tail(args: argparse.Namespace) -> int:
    """Print decisions until interrupted, --limit, or (--no-follow) the end of every shard."""
    settings = IngestSettings()
    stream = args.stream or settings.output_stream
    kinesis, _ = make_clients(settings)
    start = "TRIM_HORIZON" if args.from_start else "LATEST"
    iterators = {
        shard["ShardId"]: kinesis.get_shard_iterator(
            StreamName=stream, ShardId=shard["ShardId"], ShardIteratorType=start
        )["ShardIterator"]
        for shard in kinesis.list_shards(StreamName=stream)["Shards"]
    }
    shown = 0
    while iterators and (args.limit is None or shown < args.limit):
        found = 0
        for shard_id, iterator in list(iterators.items()):
            reply = kinesis.get_records(ShardIterator=iterator)
            for record in reply["Records"]:
                if args.limit is not None and shown >= args.limit:
                    break
                decision = common_pb2.Decision.FromString(record["Data"])
                print(json.dumps(message_json(decision)), flush=True)
                shown += 1
            found += len(reply["Records"])
            if reply.get("NextShardIterator"):
                iterators[shard_id] = reply["NextShardIterator"]
            else:
                del iterators[shard_id]
        if not found:
            if args.no_follow:
                break
            # Kinesis allows five reads a second per shard.
            time.sleep(settings.poll_interval_s)
    return 0
