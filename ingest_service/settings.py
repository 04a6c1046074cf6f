"""Settings of the stream consumer; environment prefix AEGIS_INGEST_."""

from __future__ import annotations

import os
import socket

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from aegis_runtime.settings import ServiceSettings


class IngestSettings(ServiceSettings):
    """The consumer process: its streams, its lease table, the router it scores through."""

    model_config = SettingsConfigDict(env_prefix="AEGIS_INGEST_", extra="ignore")

    port: int = Field(
        50070, ge=0, le=65535, description="gRPC port (health only); 0 picks a free one."
    )
    router_addr: str = Field("127.0.0.1:50051", description="The router the logins are scored by.")
    input_stream: str = Field("aegis-logins", description="Kinesis stream of LoginEvent records.")
    output_stream: str = Field(
        "aegis-decisions", description="Kinesis stream each decision is published to."
    )
    dead_letter_stream: str = Field(
        "aegis-dead-letters",
        description="Kinesis stream of records that can never be scored, with the reason.",
    )
    lease_table: str = Field(
        "aegis-ingest-leases", description="DynamoDB table of shard leases and checkpoints."
    )
    aws_endpoint_url: str = Field(
        "", description="An endpoint for Kinesis and DynamoDB other than AWS's (moto); empty "
        "for AWS itself."
    )
    aws_region: str = Field(
        "", description="Region; empty takes the standard chain (AWS_REGION, profile)."
    )
    consumer_id: str = Field(
        default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}",
        description="Names this consumer as the owner of its leases; unique per live consumer.",
    )
    lease_s: float = Field(
        30.0, gt=0, description="A lease not renewed for this long may be taken over."
    )
    max_leases: int = Field(
        0, ge=0, description="At most this many shards held at once; 0: no cap beyond the "
        "even share over the live consumers."
    )
    batch_records: int = Field(
        100, ge=1, le=10_000, description="Records read from a shard per GetRecords call."
    )
    poll_interval_s: float = Field(
        1.0, gt=0, description="Pause after a round that found no new record."
    )
    score_timeout_s: float = Field(
        5.0, gt=0, description="Deadline of each Score; a record that misses it is retried."
    )
