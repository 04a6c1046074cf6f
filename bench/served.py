"""Each service's own view of a step: its histograms between two scrapes of its Prometheus
endpoint, by hop (quantiles estimated within buckets, means exact). The router's queue wait
and call per downstream, each call as served, the work inside it (GetContext, group commit,
model time), the mean fsync and every service's garbage-collector pauses: a hop's call less
its served time is transport and scheduling."""

from __future__ import annotations

import math
import urllib.error
import urllib.request
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

# Histogram series (Prometheus name, label filter) -> the row it is shown as, per service. A
# filter's "*agent" matches every downstream but the audit service's two: the agents'.
_ROUTER = {
    "context queue wait": ("aegis_router_batch_queue_wait_seconds", {"downstream": "context"}),
    "context call": ("rpc_client_duration_seconds", {"rpc_method": "GetContextBatch"}),
    "agent queue wait": ("aegis_router_batch_queue_wait_seconds", {"downstream": "*agent"}),
    "agent call": ("rpc_client_duration_seconds", {"rpc_method": "AssessBatch"}),
    "record queue wait": ("aegis_router_batch_queue_wait_seconds", {"downstream": "record"}),
    "record call": ("rpc_client_duration_seconds", {"rpc_method": "RecordBatch"}),
    "score served": ("rpc_server_duration_seconds", {"rpc_method": "Score"}),
}
_AUDIT = {
    "context served": ("rpc_server_duration_seconds", {"rpc_method": "GetContextBatch"}),
    "context work": ("aegis_audit_context_duration_seconds", {}),
    "record served": ("rpc_server_duration_seconds", {"rpc_method": "RecordBatch"}),
    "group commit": ("aegis_audit_commit_duration_seconds", {}),
}
_AGENT = {
    "served": ("rpc_server_duration_seconds", {"rpc_method": "AssessBatch"}),
    "model": ("aegis_agent_batch_duration_seconds", {}),
}
# Every service's: a collection stops everything its process serves.
_GC = {
    "gc pause": ("aegis_runtime_gc_pause_seconds", {}),
    "gc pause, full": ("aegis_runtime_gc_pause_seconds", {"generation": "2"}),
}
_NOT_AGENTS = {"context", "record"}


Series = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(url: str) -> Series:
    """Every sample of a Prometheus endpoint, by (sample name, labels)."""
    with urllib.request.urlopen(url, timeout=5) as answer:
        text = answer.read().decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def scrape_all(urls: Mapping[str, str]) -> dict[str, Series]:
    """Each service's samples; a service that does not answer is left out (a view of the
    others is still worth having)."""
    scraped = {}
    for name, url in urls.items():
        try:
            scraped[name] = scrape(url)
        except (urllib.error.URLError, OSError):
            continue
    return scraped


def _matches(labels: frozenset[tuple[str, str]], wanted: Mapping[str, str]) -> bool:
    have = dict(labels)
    for key, value in wanted.items():
        if value == "*agent":
            if have.get(key) in _NOT_AGENTS or key not in have:
                return False
        elif have.get(key) != value:
            return False
    return True


def histogram(before: Series, after: Series, name: str,
              wanted: Mapping[str, str]) -> dict[str, float | None]:
    """What a histogram recorded between two scrapes, every matching series summed: its
    count, mean and p50/p99 in ms, the quantiles interpolated within their bucket."""
    buckets: dict[float, float] = defaultdict(float)
    count = total = 0.0
    for (sample, labels), value in after.items():
        if not sample.startswith(name) or not _matches(labels, wanted):
            continue
        grew = value - before.get((sample, labels), 0.0)
        if sample == name + "_bucket":
            buckets[float(dict(labels)["le"])] += grew
        elif sample == name + "_count":
            count += grew
        elif sample == name + "_sum":
            total += grew
    if not count:
        return {"n": 0, "mean": None, "p50": None, "p99": None}
    return {"n": count, "mean": round(total / count * 1000, 3),
            "p50": _quantile(buckets, count, 0.5), "p99": _quantile(buckets, count, 0.99)}


def _quantile(buckets: Mapping[float, float], count: float, q: float) -> float | None:
    """The q-quantile (ms) of cumulative bucket counts, linear within its bucket."""
    wanted = q * count
    lower = previous = 0.0
    for bound in sorted(buckets):
        cumulative = buckets[bound]
        if cumulative >= wanted:
            if math.isinf(bound):
                return round(lower * 1000, 3)  # past the last bound: its lower edge
            share = (wanted - previous) / (cumulative - previous) if cumulative > previous else 1
            return round((lower + (bound - lower) * share) * 1000, 3)
        lower, previous = bound, cumulative
    return None


def server_views(before: Mapping[str, Series],
                 after: Mapping[str, Series]) -> dict[str, dict[str, Any]]:
    """Each service's histograms between the scrapes, by row (router, audit, each agent)."""
    views: dict[str, dict[str, Any]] = {}
    for service in [name for name in after if name in before]:
        rows = _ROUTER if service == "router" else _AUDIT if service == "audit" else _AGENT
        views[service] = {row: histogram(before[service], after[service], name, labels)
                          for row, (name, labels) in {**rows, **_GC}.items()}
    if "audit" in views:
        audit_before, audit_after = before["audit"], after["audit"]
        writes = _grown(audit_before, audit_after, "aegis_audit_storage_writes_total")
        spent = _grown(audit_before, audit_after, "aegis_audit_storage_write_time_seconds_total")
        views["audit"]["fsync mean"] = round(spent / writes * 1000, 3) if writes else None
    return views


def _grown(before: Series, after: Series, name: str) -> float:
    """How much a counter of fsyncs grew between the scrapes."""
    return sum(value - before.get(key, 0.0) for key, value in after.items()
               if key[0] == name and ("operation", "fsync") in key[1])
