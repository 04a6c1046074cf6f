"""`aegis cluster up|down|status|run`: the local cluster, one process per service."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType

from aegis_cli import cmd_generate, cmd_replay
from aegis_cli.argtypes import positive_float
from aegis_cli.errors import FAILURE, INTERRUPTED, CliError
from aegis_lab.world import WorldConfig, generate
from aegis_lab.world.rows import generated_rows
from aegis_mesh.certificates import cluster_identities, ensure_identities
from aegis_mesh.cluster import (
    AUDIT_BACKENDS,
    DEFAULT_AUDIT_BACKEND,
    INGEST_SOURCES,
    MOTO_CREDENTIALS,
    MOTO_PORT,
    SERVING,
    ClusterError,
    ClusterPaths,
    LocalCluster,
    cluster_stages,
    local_address,
    moto_ingest_env,
    router_address,
)
from aegis_runtime.tls import CA_FILE, TlsSettings

# How often `run` looks at the services while it keeps them serving.
_WATCH_S = 1.0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add `aegis cluster` and its actions; the parsed arguments carry the handler."""
    parser = subparsers.add_parser(
        "cluster",
        help="the local cluster: up, down, status, run",
        description="The local cluster as processes on 127.0.0.1: the audit service (50052), "
        "every agent of the registry, then the router (50051). State (logs/, run/ pid files, "
        "audit-data/) lives under --state-dir, relative to the current directory: run it "
        "from the project root, as make does.",
    )
    actions = parser.add_subparsers(dest="cluster_command", required=True, metavar="ACTION")

    up = actions.add_parser("up", help="start what is not running; return once all are SERVING")
    _common(up, audit=True)
    _tls_option(up)
    up.add_argument("--timeout", type=positive_float, default=60.0, metavar="SECONDS",
                    help="give up (and stop what this command started) after this long "
                    "(default %(default)s)")
    up.set_defaults(handler=run_up)

    down = actions.add_parser("down", help="stop every service: SIGTERM, then SIGKILL if stuck")
    _common(down, audit=False)
    down.add_argument("--timeout", type=positive_float, default=30.0, metavar="SECONDS",
                      help="wait this long for a service to drain before SIGKILL "
                      "(default %(default)s)")
    down.set_defaults(handler=run_down)

    status = actions.add_parser(
        "status", help="each service's pid, port and health (exit 1 unless all SERVING)"
    )
    _common(status, audit=False)
    _tls_option(status)
    status.add_argument("--json", action="store_true", help="print as JSON")
    status.set_defaults(handler=run_status)

    run = actions.add_parser(
        "run",
        help="up, replay generated logins, keep serving until Ctrl-C, then down",
        description="Bring the cluster up, generate --events logins (the last within the day "
        "before now, unless --start is given) and "
        "replay them through the router with a progress bar and a summary, then keep the "
        "cluster serving until Ctrl-C (or SIGTERM) and bring it down cleanly.",
    )
    _common(run, audit=True)
    _tls_option(run)
    run.add_argument("--timeout", type=positive_float, default=60.0, metavar="SECONDS",
                     help="for the cluster to come up (default %(default)s)")
    cmd_generate.add_generator_options(run)
    cmd_replay.add_stream_options(run)
    run.set_defaults(handler=run_run)


def _common(parser: argparse.ArgumentParser, audit: bool) -> None:
    parser.add_argument("--state-dir", type=Path, default=Path(".aegis"), metavar="DIR",
                        help="logs, pid files and audit data (default %(default)s)")
    if audit:
        parser.add_argument("--audit", choices=AUDIT_BACKENDS, default=DEFAULT_AUDIT_BACKEND,
                            help="audit storage backend; embedded keeps it in "
                            "STATE_DIR/audit-data (default %(default)s)")
        parser.add_argument("--ingest", choices=INGEST_SOURCES, default="none",
                            help="kinesis: a moto server with the ingest streams and lease "
                            "table, and the stream consumer beside the mesh "
                            "(docs/streaming.md; default %(default)s)")


def _tls_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--tls", action="store_true",
        help="mutual TLS between every service and caller, with a local CA and certificates "
        "in STATE_DIR/tls (made when missing): ca.pem, NAME.pem and NAME.key for each "
        "service and for client, reviewer and operator. Other commands use them with "
        "AEGIS_TLS_DIR=STATE_DIR/tls",
    )


def _cluster(args: argparse.Namespace) -> LocalCluster:
    paths = ClusterPaths(args.state_dir)
    tls = getattr(args, "tls", False)
    try:
        return LocalCluster(cluster_stages(
            paths, getattr(args, "audit", "embedded"), tls=tls,
            ingest=getattr(args, "ingest", "none"),
        ), paths)
    except ClusterError as exc:
        raise CliError(str(exc)) from None


def _ensure_certificates(args: argparse.Namespace) -> None:
    if args.tls:
        folder = ClusterPaths(args.state_dir).tls
        if ensure_identities(folder, cluster_identities()):
            print(f"made a local CA and certificates in {folder}", file=sys.stderr)


def run_up(args: argparse.Namespace) -> int:
    """Exit 0 once every service is SERVING."""
    cluster = _cluster(args)
    _ensure_certificates(args)
    try:
        cluster.up(args.timeout)
    except ClusterError as exc:
        raise CliError(f"cluster up failed: {exc}") from None
    print(f"cluster up: {len(cluster.services)} services SERVING; router at {router_address()}")
    if args.tls:
        print(f"mutual TLS: export AEGIS_TLS_DIR={cluster.paths.tls} for the other commands")
    if args.ingest == "kinesis":
        print(stream_hint())
    return 0


def stream_hint() -> str:
    """How `aegis stream put|tail` reach the local cluster's streams on moto."""
    env = {f"AEGIS_INGEST_{key}": value
           for key, value in moto_ingest_env(local_address(MOTO_PORT)).items()}
    exports = " ".join(f"{key}={value}" for key, value in (env | MOTO_CREDENTIALS).items())
    return f"streams on moto: {exports} aegis stream put FILE"


def run_down(args: argparse.Namespace) -> int:
    """Stop whatever runs; a service that will not stop is killed, and the user told."""
    _cluster(args).down(args.timeout)
    return 0


def run_status(args: argparse.Namespace) -> int:
    """Exit 0 only when every service is SERVING."""
    statuses = _cluster(args).status()
    if args.json:
        print(json.dumps([
            {"service": s.name, "pid": s.pid, "port": s.port, "health": s.health,
             "metrics": s.metrics_url}
            for s in statuses
        ]))
    else:
        print(f"{'SERVICE':<10} {'PID':>8} {'PORT':>6}  {'HEALTH':<10} METRICS")
        for s in statuses:
            print(f"{s.name:<10} {s.pid or '-':>8} {s.port:>6}  {s.health:<10} "
                  f"{s.metrics_url or '-'}")
    tls = ClusterPaths(args.state_dir).tls
    if not args.tls and (tls / CA_FILE).exists() and any(s.pid and s.health != SERVING
                                                          for s in statuses):
        # A plaintext probe of a TLS server fails at the handshake: say why it may be down.
        print(f"{tls} holds certificates: was the cluster started with --tls? "
              "(then: aegis cluster status --tls)", file=sys.stderr)
    return 0 if all(s.health == SERVING for s in statuses) else FAILURE


def run_run(args: argparse.Namespace) -> int:
    """Exit status: the replay's (0 when every login got a decision), or 130 when
    interrupted before the replay ended."""
    cluster = _cluster(args)
    config = config_ending_now(args)
    replay_status = INTERRUPTED
    # SIGTERM ends the run as Ctrl-C does: through KeyboardInterrupt, then a clean down.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        _ensure_certificates(args)
        cluster.up(args.timeout)
        print(f"replaying {config.events} generated logins of {config.users} users "
              f"(seed {config.seed}, from {config.start:%Y-%m-%d %H:%M} UTC)", file=sys.stderr)
        options = cmd_replay.options_from_args(args, router_address())
        if args.tls:
            options = replace(options, tls=TlsSettings(dir=cluster.paths.tls))
        summary = cmd_replay.score_rows(
            generated_rows(config), options, config.events
        )
        replay_status = cmd_replay.report(summary, options)
        tls_env = f"AEGIS_TLS_DIR={cluster.paths.tls} " if args.tls else ""
        print(f"cluster serving; router at {router_address()}. Try: {tls_env}aegis score "
              "--user 42 --ip 81.166.1.2 --country NO. Ctrl-C to stop.", file=sys.stderr)
        if args.ingest == "kinesis":
            print(stream_hint(), file=sys.stderr)
        dead = _serve_until_interrupted(cluster)
        raise CliError(f"{dead} stopped unexpectedly; {cluster.log_tail(dead)}")
    except ClusterError as exc:
        raise CliError(f"cluster up failed: {exc}") from None
    except KeyboardInterrupt:
        print("interrupted: bringing the cluster down", file=sys.stderr)
        return replay_status
    finally:
        # A second Ctrl-C must not leave services behind half-stopped: down is bounded.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        cluster.down()


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def config_ending_now(args: argparse.Namespace) -> WorldConfig:
    """The generator's configuration, moved so that its last login falls within the day
    before now: the history that live `aegis score` calls then see. Moved by whole days so
    that the users' usual hours stay where they were; --start, when given, wins."""
    config = cmd_generate.config_from_args(args)
    if args.start is not None:
        return config
    # One pass more over the logins (streamed): their end is known only once generated.
    last_ms = config.start_ms
    for login in generate(config):
        last_ms = login.event.timestamp.ToMilliseconds()
    days_to_now = (datetime.now(UTC) - datetime.fromtimestamp(last_ms / 1000, UTC)).days
    return replace(config, start=config.start + timedelta(days=days_to_now))


def _serve_until_interrupted(cluster: LocalCluster) -> str:
    """Block until Ctrl-C / SIGTERM (KeyboardInterrupt) or until a service dies (its name)."""
    while True:
        dead = cluster.first_dead()
        if dead is not None:
            return dead
        time.sleep(_WATCH_S)
