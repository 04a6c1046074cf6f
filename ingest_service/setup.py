"""Creates what the consumer reads and writes, from the definitions in resources.py: the three
streams and the lease table (the local cluster and the tests; production's come from the ECS
template, rendered from the same definitions)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from botocore.exceptions import ClientError

from ingest_service import resources
from ingest_service.settings import IngestSettings


def _created(call: Any, **arguments: Any) -> bool:
    """Call a create; False when the resource already exists (it is kept as it is)."""
    try:
        call(**arguments)
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ResourceInUseException":
            raise
        return False
    return True


def create_resources(kinesis: Any, dynamodb: Any, settings: IngestSettings,
                     input_shards: int | None = None) -> list[str]:
    """Create the streams (encrypted) and the lease table, waiting until each is usable;
    ones that already exist are kept. `input_shards` overrides the input's shard count
    (tests). Returns one line per resource."""
    streams = [
        replace(s, shards=input_shards) if s is resources.INPUT and input_shards else s
        for s in resources.STREAMS
    ]
    done: list[str] = []
    fresh = []
    for stream in streams:
        name = resources.stream_name(settings, stream)
        if _created(kinesis.create_stream, **resources.create_stream_args(name, stream)):
            fresh.append(name)
            done.append(f"stream {name}: created ({stream.shards} shards)")
        else:
            done.append(f"stream {name}: exists, left as it is")
    table = settings.lease_table
    created_table = _created(dynamodb.create_table, **resources.lease_table_args(table))
    done.append(f"lease table {table}: " + ("created" if created_table else "exists"))
    for stream in streams:
        kinesis.get_waiter("stream_exists").wait(
            StreamName=resources.stream_name(settings, stream)
        )
    for name in fresh:
        kinesis.start_stream_encryption(**resources.stream_encryption_args(name))
    dynamodb.get_waiter("table_exists").wait(TableName=table)
    return done
