"""`aegis top`: a live terminal view of the local cluster's rates and latencies, per agent,
read from the services' Prometheus endpoints."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from aegis_cli.argtypes import positive_float
from aegis_cli.errors import CliError
from aegis_cli.scrape import Scrape, scrape
from aegis_mesh.cluster import ClusterError, ClusterPaths, LocalCluster, cluster_stages, metrics_url

STATUSES = ("OK", "TIMEOUT", "ERROR", "UNAVAILABLE", "NO_MODEL")
RATES = ("CHALLENGE", "BLOCK_TEMPORARY", "ESCALATE")
_CLEAR = "\x1b[H\x1b[2J"


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "top",
        help="live view of the local cluster's rates and latencies, per agent",
        description="Scrapes every service's /metrics endpoint (`aegis cluster status` lists "
        "them) and shows Scores, per-agent signals by status and latency, decision rates and "
        "the audit's commits. Live: rates over each interval; --once: totals since start-up.",
    )
    parser.add_argument("--state-dir", type=Path, default=Path(".aegis"), metavar="DIR",
                        help="the cluster's state (default %(default)s)")
    parser.add_argument("--interval", type=positive_float, default=2.0, metavar="SECONDS",
                        help="refresh period (default %(default)s)")
    parser.add_argument("--once", action="store_true",
                        help="print one frame of totals and exit (for scripts and tests)")
    parser.set_defaults(handler=run_top)


def _scrape_cluster(urls: list[str]) -> Scrape:
    total = Scrape()
    for url in urls:
        try:
            total = total + scrape(url)
        except OSError as exc:
            raise CliError(f"no metrics at {url} ({exc}); is the cluster up?") from None
    return total


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.1f}"


def render(s: Scrape, per: str) -> str:
    """One frame: `per` says what the counts are (totals, or per second)."""
    decided = s.total("aegis_router_scores_total", outcome="decided")
    repeat = s.total("aegis_router_scores_total", outcome="repeat")
    failed = s.total("aegis_router_scores_total") - decided - repeat
    lines = [
        f"router  scores {per}: decided {decided:g}  repeat {repeat:g}  failed {failed:g}  "
        f"in flight {s.total('aegis_router_scores_in_flight'):g}  without context "
        f"{s.total('aegis_router_decisions_without_context_total'):g}",
        f"        latency ms p50 {_ms(s.quantile('aegis_router_score_duration_seconds', 0.5))}"
        f"  p95 {_ms(s.quantile('aegis_router_score_duration_seconds', 0.95))}"
        f"  p99 {_ms(s.quantile('aegis_router_score_duration_seconds', 0.99))}",
        "        last decisions: " + "  ".join(
            f"{a.lower()} {s.total('aegis_router_decision_rate', action=a):.1%}"
            for a in RATES),
        "",
        f"{'AGENT':<10} " + " ".join(f"{st:>11}" for st in STATUSES)
        + f" {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'batch':>6} {'model ms':>9}  MODEL",
    ]
    for agent in s.label_values("aegis_router_agent_signals_total", "agent"):
        counts = " ".join(
            f"{s.total('aegis_router_agent_signals_total', agent=agent, status=st):>11g}"
            for st in STATUSES)
        latency = " ".join(
            f"{_ms(s.quantile('aegis_router_agent_duration_seconds', q, agent=agent)):>8}"
            for q in (0.5, 0.95, 0.99))
        batches = s.total("aegis_agent_batch_duration_seconds_count", agent=agent)
        size = s.total("aegis_agent_logins_total", agent=agent) / batches if batches else 0.0
        model = _ms(s.quantile("aegis_agent_login_duration_seconds", 0.5, agent=agent))
        versions = [labels.get("model_version", "?")
                    for labels, _ in s.matching("aegis_agent_model_info", agent=agent)]
        lines.append(f"{agent:<10} {counts} {latency} {size:>6.1f} {model:>9}  "
                     f"{','.join(versions) or '-'}")
    commits = s.total("aegis_audit_commit_duration_seconds_count")
    records = s.total("aegis_audit_commit_records_total")
    lines += [
        "",
        f"audit   commits {per}: {commits:g}  records/commit "
        f"{records / commits if commits else 0:.1f}  commit p95 ms "
        f"{_ms(s.quantile('aegis_audit_commit_duration_seconds', 0.95))}  context p95 ms "
        f"{_ms(s.quantile('aegis_audit_context_duration_seconds', 0.95))}",
    ]
    return "\n".join(lines)


def run_top(args: argparse.Namespace) -> int:
    paths = ClusterPaths(args.state_dir)
    try:
        cluster = LocalCluster(cluster_stages(paths), paths)
    except ClusterError as exc:
        raise CliError(str(exc)) from None
    urls = [url for spec in cluster.services if (url := metrics_url(spec)) is not None]
    before = _scrape_cluster(urls)
    if args.once:
        print(render(before, "total"))
        return 0
    while True:
        time.sleep(args.interval)
        now = _scrape_cluster(urls)
        frame = render(_per_second(now.since(before), args.interval), "/s")
        print(f"{_CLEAR}aegis top  every {args.interval:g} s  (Ctrl-C to stop)\n\n{frame}",
              flush=True)
        before = now


def _per_second(gained: Scrape, seconds: float) -> Scrape:
    """Counts over an interval as rates; histogram quantiles and levels are unchanged by it."""
    return Scrape(
        {key: value if key[0] in gained.gauges or key[0].endswith("_bucket")
         else value / seconds for key, value in gained.values.items()},
        gained.gauges,
    )
