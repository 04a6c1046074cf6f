"""`make bench`'s streaming phase: logins put on the Kinesis input stream (moto on loopback) in
batches, scored by the stream consumer beside the full mesh, their decisions published on the
output stream. Reported per rate: the lag from a record's arrival on the input stream to its
decision's arrival on the output stream (both stamped by the stream), p50 and p99, and the
consumer's CPU per event. Reported values, not targets: issue 16 names none.

The producer sends one PutRecords every 1/PUTS_PER_S seconds on an open-loop schedule (a slow
put does not delay the next batch's share of the rate). Alone (short-history users, no seeded
audit data; the cluster on AEGIS_CLUSTER_PORT_OFFSET's ports):

    python -m bench.ingest_lag [--rates 100,300] [--duration 10] [--state-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import boto3

from aegis.v1 import common_pb2
from aegis_mesh.certificates import cluster_identities, write_identities
from aegis_mesh.cluster import (
    INGEST,
    MOTO,
    MOTO_CREDENTIALS,
    MOTO_REGION,
    ClusterPaths,
    LocalCluster,
    cluster_stages,
)
from bench.cpu import CpuMeter
from bench.population import Population, read_templates
from bench.stats import summarise
from ingest_service.settings import IngestSettings

RATES = (100.0, 300.0)
DURATION_S = 10.0
PUTS_PER_S = 10
# Kinesis allows five GetRecords per shard and second: an idle shard is read again after this.
POLL_INTERVAL_S = 0.2
# After the last put, how long the decisions may take to appear before the step gives up.
SETTLE_S = 60.0


def _stream_client(address: str) -> Any:
    session = boto3.session.Session(
        aws_access_key_id=MOTO_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=MOTO_CREDENTIALS["AWS_SECRET_ACCESS_KEY"], region_name=MOTO_REGION,
    )
    return session.client("kinesis", endpoint_url=f"http://{address}")


class StreamReader:
    """Every record of a stream from where it stood when made, read on as more arrive."""

    def __init__(self, kinesis: Any, stream: str) -> None:
        self._kinesis = kinesis
        self._iterators = [
            kinesis.get_shard_iterator(StreamName=stream, ShardId=shard["ShardId"],
                                       ShardIteratorType="LATEST")["ShardIterator"]
            for shard in kinesis.list_shards(StreamName=stream)["Shards"]
        ]

    def read(self) -> Iterator[dict[str, Any]]:
        for i, iterator in enumerate(self._iterators):
            while True:
                reply = self._kinesis.get_records(ShardIterator=iterator, Limit=10_000)
                iterator = reply["NextShardIterator"]
                yield from reply["Records"]
                if not reply["Records"]:
                    break
            self._iterators[i] = iterator


def _put_on_schedule(kinesis: Any, stream: str, population: Population, rate: float,
                     duration_s: float) -> int:
    """Put rate x duration logins in PUTS_PER_S batches a second; the number put."""
    batches = max(1, int(duration_s * PUTS_PER_S))
    per_batch = max(1, round(rate / PUTS_PER_S))
    start = time.monotonic()
    for batch in range(batches):
        delay = start + batch / PUTS_PER_S - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        events = [population.next_login() for _ in range(per_batch)]
        reply = kinesis.put_records(StreamName=stream, Records=[
            {"Data": e.SerializeToString(), "PartitionKey": e.user_id} for e in events])
        if reply.get("FailedRecordCount"):
            raise RuntimeError(f"moto refused {reply['FailedRecordCount']} records")
    return batches * per_batch


def _arrivals(records: Iterator[dict[str, Any]], parse: type[Any]) -> dict[str, float]:
    """event id -> arrival (epoch seconds) of its first record."""
    first: dict[str, float] = {}
    for record in records:
        event_id = parse.FromString(record["Data"]).event_id
        first.setdefault(event_id, record["ApproximateArrivalTimestamp"].timestamp())
    return first


def measure_rate(cluster: LocalCluster, kinesis: Any, population: Population, rate: float,
                 duration_s: float) -> dict[str, Any]:
    """One step: put at `rate`, wait until every login's decision is published."""
    settings = IngestSettings()
    consumer = next(s for s in cluster.status() if s.name == INGEST)
    assert consumer.pid is not None
    inputs = StreamReader(kinesis, settings.input_stream)
    outputs = StreamReader(kinesis, settings.output_stream)
    dead = StreamReader(kinesis, settings.dead_letter_stream)
    cpu = CpuMeter({INGEST: consumer.pid})
    cpu.start()
    put_started = time.monotonic()
    sent = _put_on_schedule(kinesis, settings.input_stream, population, rate, duration_s)
    put_s = time.monotonic() - put_started
    published: list[dict[str, Any]] = []
    letters: list[dict[str, Any]] = []
    deadline = time.monotonic() + SETTLE_S
    while time.monotonic() < deadline:
        published += outputs.read()
        letters += dead.read()
        decided = {common_pb2.Decision.FromString(r["Data"]).event_id for r in published}
        if len(decided) + len(letters) >= sent:
            break
        time.sleep(POLL_INTERVAL_S)
    cpu_ms = cpu.used()[INGEST] * 1000
    put_at = _arrivals(inputs.read(), common_pb2.LoginEvent)
    decided_at = _arrivals(iter(published), common_pb2.Decision)
    lags = [(decided_at[e] - put_at[e]) * 1000 for e in put_at if e in decided_at]
    return {
        "rate": rate, "sent": sent, "put_rate_per_s": round(sent / put_s, 1),
        "published": len(decided_at), "repeats": len(published) - len(decided_at),
        "dead_letters": [json.loads(r["Data"])["reason"] for r in letters],
        "lag_ms": summarise(lags),
        "consumer_cpu_ms_per_event": round(cpu_ms / max(len(decided_at), 1), 3),
    }


def ingest_cluster(state: Path, seeded: Path | None, tls: bool) -> LocalCluster:
    """The full mesh with the consumer beside it (polling at POLL_INTERVAL_S), its audit data a
    copy of `seeded`'s."""
    paths = ClusterPaths(state)
    shutil.rmtree(paths.root, ignore_errors=True)
    if seeded is not None:
        shutil.copytree(seeded / "audit-data", paths.audit_data)
    if tls:
        write_identities(paths.tls, cluster_identities())
    stages = cluster_stages(paths, tls=tls, ingest="kinesis")
    poll = {"AEGIS_INGEST_POLL_INTERVAL_S": f"{POLL_INTERVAL_S:g}"}
    stages = [[replace(s, env={**s.env, **poll}) if s.name == INGEST else s for s in stage]
              for stage in stages]
    return LocalCluster(stages, paths, say=lambda _msg: None)


def run(state: Path, seeded: Path | None, templates: Path | None, tls: bool,
        start: Callable[[LocalCluster], None], smoke: bool) -> dict[str, Any]:
    """The phase: a fresh cluster in `state`/ingest, started by `start`, each rate, then
    down."""
    cluster = ingest_cluster(state / "ingest", seeded, tls)
    rates, duration_s = ((20.0,), 1.0) if smoke else (RATES, DURATION_S)
    print("[bench] ingest: starting", file=sys.stderr)
    start(cluster)
    try:
        return measure(cluster, templates, rates, duration_s)
    finally:
        cluster.down()


def measure(cluster: LocalCluster, templates: Path | None, rates: tuple[float, ...],
            duration_s: float) -> dict[str, Any]:
    """Each rate in turn on a started cluster."""
    moto = next(s for s in cluster.services if s.name == MOTO)
    kinesis = _stream_client(moto.address)
    population = (Population(read_templates(templates), seed=16) if templates is not None
                  else Population.short_history(200, seed=16))
    steps = []
    for rate in rates:
        step = measure_rate(cluster, kinesis, population, rate, duration_s)
        print(f"[bench] ingest {rate:g}/s: lag p50 {step['lag_ms']['p50']} ms, p99 "
              f"{step['lag_ms']['p99']} ms, consumer {step['consumer_cpu_ms_per_event']} ms "
              "CPU per event", file=sys.stderr)
        steps.append(step)
    return {"poll_interval_s": POLL_INTERVAL_S, "puts_per_s": PUTS_PER_S, "rates": steps}


def reported(result: dict[str, Any]) -> dict[str, Any]:
    """The figures of the final JSON line, keyed by rate."""
    return {
        f"{step['rate']:g}_per_s": {
            "lag_p50_ms": step["lag_ms"]["p50"], "lag_p99_ms": step["lag_ms"]["p99"],
            "consumer_cpu_ms_per_event": step["consumer_cpu_ms_per_event"],
            "published": step["published"], "sent": step["sent"],
            "dead_letters": len(step["dead_letters"]),
        }
        for step in result["rates"]
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default=",".join(f"{r:g}" for r in RATES),
                        help="events/s, one step each")
    parser.add_argument("--duration", type=float, default=DURATION_S, help="seconds per rate")
    parser.add_argument("--state-dir", type=Path, help="the cluster's state (default: a "
                        "temporary folder)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        cluster = ingest_cluster(args.state_dir or Path(scratch), None, tls=False)
        cluster.up()
        try:
            result = measure(cluster, None, tuple(float(r) for r in args.rates.split(",")),
                             args.duration)
        finally:
            cluster.down()
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
