"""The local cluster as processes: started in dependency order, ready when SERVING, stopped
gracefully (SIGTERM, SIGKILL only as a last resort).

State lives under one folder (default `.aegis` in the current directory): logs in
`logs/{service}.log`, pid files in `run/{service}.pid`, the embedded audit store (and the
development checkpoint signing key) in `audit-data/`, and with TLS the local CA and every
certificate in `tls/` (aegis_mesh.certificates). Services run with the current directory
as theirs, so their own relative defaults (e.g. `.aegis/models`) resolve to the same place.

Audit backends: embedded (files), aws (S3 + DynamoDB named by AEGIS_AUDIT_S3_BUCKET and
AEGIS_AUDIT_DYNAMODB_TABLE in the environment, credentials from the standard chain), moto
(a moto server started first, on MOTO_PORT, with the bucket and table `aegis audit init`
makes; its state lives in its memory and goes with it).

Ingestion: none, or kinesis (the stream consumer, ingest_service, started after the router and
stopped before it; its streams and lease table on the same moto server, made from the
definitions the ECS template renders).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aegis_domain.registry import AgentEntry, Registry, default_registry
from aegis_runtime.grpc_core import with_grpc_core_defaults
from aegis_runtime.healthcheck import check
from aegis_runtime.tls import TLS_ENV_PREFIX, TlsIdentity
from audit_service.settings import AuditSettings
from ingest_service.settings import IngestSettings

HOST = "127.0.0.1"
ROUTER_PORT = 50051
AUDIT_PORT = 50052
# Shifts every port of the cluster (moto, audit, agents, router) by this much, so that a
# second cluster (a test run, an evaluation) can run beside a developer's. A negative one
# moves the cluster below the default ports: at -17,500 or lower every port lies below Linux's
# ephemeral range (32768-60999 by default), where no outgoing connection can hold one.
PORT_OFFSET_ENV = "AEGIS_CLUSTER_PORT_OFFSET"
# Which agents share a process (agent_hosts).
AGENT_HOSTS_ENV = "AEGIS_CLUSTER_AGENT_HOSTS"
# A process per agent, as ECS deploys them: so the local cluster and the bench run the topology
# that production runs. One host for every agent saved no CPU per Score beyond the noise on a
# quiet 2-core machine, and past capacity it fails calls where separate agents degrade
# (docs/benchmarks.md, "Agent hosts").
DEFAULT_AGENT_HOSTS = "none"
ALL_AGENTS = "agents"  # the process name of a host serving every agent
MAX_PORT_OFFSET = 10_000
ENVIRONMENT = "local"
AUDIT_BACKENDS = ("embedded", "aws", "moto")
INGEST_SOURCES = ("none", "kinesis")
# `make cluster-up` without AUDIT= follows the audit service's own setting.
DEFAULT_AUDIT_BACKEND = os.environ.get("AEGIS_AUDIT_BACKEND", "embedded")
MOTO_PORT = 50050
# The lowest offset keeps the lowest port (moto's) out of the privileged range.
MIN_PORT_OFFSET = 1024 - MOTO_PORT
# The stream consumer's gRPC port (health only), IngestSettings' default.
INGEST_PORT = 50070
MOTO = "moto"
INGEST = "ingest"
# Each service's Prometheus /metrics endpoint: its gRPC port plus this (router 50151, audit
# 50152, agents 5016x), moved by the port offset with it. Not 1000: a second cluster's offset
# is a multiple of 500 or 1000, and its gRPC ports would take these.
METRICS_PORT_SHIFT = 100
MOTO_STORAGE = "aegis-audit-local"  # the bucket and the table on the moto server
MOTO_REGION = "us-east-1"
# moto accepts any credentials; these keep real ones from ever being sent to it.
MOTO_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "moto", "AWS_SECRET_ACCESS_KEY": "moto"}
SERVING = "SERVING"
_POLL_S = 0.2
_LOG_TAIL_LINES = 25


class ClusterError(Exception):
    """The cluster could not be brought to the state asked for; the message says which
    service and why."""


def port_offset() -> int:
    """The port offset of this environment's cluster (AEGIS_CLUSTER_PORT_OFFSET, default 0)."""
    raw = os.environ.get(PORT_OFFSET_ENV, "0").strip() or "0"
    try:
        offset = int(raw)
    except ValueError:
        raise ClusterError(f"{PORT_OFFSET_ENV}={raw!r} is not a whole number") from None
    if not MIN_PORT_OFFSET <= offset <= MAX_PORT_OFFSET:
        raise ClusterError(
            f"{PORT_OFFSET_ENV}={offset} is outside {MIN_PORT_OFFSET}..{MAX_PORT_OFFSET}")
    return offset


def local_address(port: int, offset: int | None = None) -> str:
    """Where the cluster's service of default `port` answers, shifted by `offset`
    (default: AEGIS_CLUSTER_PORT_OFFSET)."""
    return f"{HOST}:{port + (port_offset() if offset is None else offset)}"


def router_address(offset: int | None = None) -> str:
    """Where the cluster's router answers."""
    return local_address(ROUTER_PORT, offset)


def audit_address(offset: int | None = None) -> str:
    """Where the cluster's audit service answers."""
    return local_address(AUDIT_PORT, offset)


def agent_hosts(registry: Registry, spec: str | None = None) -> list[list[AgentEntry]]:
    """The agents' processes: the groups of registry agents that one process (an agent host,
    at the first one's port) serves together. `spec` (default: AEGIS_CLUSTER_AGENT_HOSTS, else
    DEFAULT_AGENT_HOSTS): `all` (one host), `none` (a process each), or groups of names joined
    by `+`, separated by `,` (`detection+geo,behavior`); an agent in no group runs alone."""
    if spec is None:
        spec = os.environ.get(AGENT_HOSTS_ENV, "").strip() or DEFAULT_AGENT_HOSTS
    if spec == "all":
        return [list(registry.agents)]
    groups: dict[str, list[AgentEntry]] = {e.name: [e] for e in registry.agents}
    if spec != "none":
        for group in spec.split(","):
            try:
                members = [registry.get(name.strip()) for name in group.split("+")]
            except KeyError as exc:
                raise ClusterError(f"{AGENT_HOSTS_ENV}={spec!r}: {exc.args[0]}") from None
            for member in members:
                groups.pop(member.name, None)
            groups[members[0].name] = members
    # In registry order of each group's first agent.
    return sorted(groups.values(), key=lambda group: registry.names.index(group[0].name))


def agent_host_of(registry: Registry, hosts: str | None = None) -> dict[str, AgentEntry]:
    """Each agent's host in the local cluster (agent_hosts), as the host's first agent: the
    port it listens on (before the offset) and the certificate it presents are that one's."""
    return {e.name: group[0] for group in agent_hosts(registry, hosts) for e in group}


def _host_name(group: Sequence[AgentEntry], registry: Registry) -> str:
    """The process name of agents served together: `agents` for all of them."""
    if len(group) > 1 and len(group) == len(registry.agents):
        return ALL_AGENTS
    return "+".join(e.name for e in group)


def _running_hosts(paths: ClusterPaths, registry: Registry) -> str | None:
    """The agent_hosts spec of the agent processes whose pid files `paths` holds (None:
    none)."""
    running = [p.stem for p in paths.run.glob("*.pid")]
    if ALL_AGENTS in running:
        return "all"
    agents = [name for name in running
              if all(part in registry.names for part in name.split("+"))]
    if not agents:
        return None
    return ",".join(name for name in agents if "+" in name) or "none"


def grpc_health(address: str) -> str:
    return check(address, timeout_s=1.0)


def tls_health(tls_dir: Path, peer: str) -> Callable[[str], str]:
    """A probe of `peer` over mutual TLS, as the operator (the certificates are read at each
    probe: `cluster up --tls` makes them after the stages are planned)."""

    def probe(address: str) -> str:
        try:
            identity = TlsIdentity.from_dir(tls_dir, "operator")
        except ValueError:
            return f"NO CERTIFICATES in {tls_dir}"
        return check(address, timeout_s=1.0, tls=identity, peer=peer)

    return probe


def http_answers(address: str) -> str:
    """SERVING once an HTTP server answers at `address` (any status: it is up)."""
    host, port = address.rsplit(":", 1)
    try:
        with socket.create_connection((host, int(port)), timeout=1.0) as sock:
            sock.sendall(b"GET / HTTP/1.0\r\nHost: " + host.encode() + b"\r\n\r\n")
            return SERVING if sock.recv(5) == b"HTTP/" else "UNREACHABLE"
    except OSError:
        return "UNREACHABLE"


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    """One process of the cluster: how to start it, where it answers, how to tell it is
    ready, and what to do once it is (before the next stage starts)."""

    name: str
    args: tuple[str, ...]
    port: int
    env: Mapping[str, str] = field(default_factory=dict)
    # Where its /metrics answers (HTTP); None for a process that serves none (moto).
    metrics_port: int | None = None
    probe: Callable[[str], str] = grpc_health
    when_ready: Callable[[], None] | None = None

    @property
    def address(self) -> str:
        return f"{HOST}:{self.port}"

    @property
    def command(self) -> list[str]:
        return [sys.executable, *self.args]


def with_tls(spec: ServiceSpec, paths: ClusterPaths, name: str = "") -> ServiceSpec:
    """`spec` serving mutual TLS with the certificate `name` (default: its own name) of
    paths.tls, and probed over TLS."""
    name = name or spec.name
    tls_env = {"AEGIS_TLS_DIR": str(paths.tls.resolve()), "AEGIS_TLS_NAME": name}
    return replace(spec, env={**spec.env, **tls_env}, probe=tls_health(paths.tls, name))


@dataclass(frozen=True, slots=True)
class ClusterPaths:
    """Where the cluster keeps its state, relative to the directory it is run from."""

    root: Path = Path(".aegis")

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def run(self) -> Path:
        return self.root / "run"

    @property
    def audit_data(self) -> Path:
        return self.root / "audit-data"

    @property
    def tls(self) -> Path:
        return self.root / "tls"

    def log(self, name: str) -> Path:
        return self.logs / f"{name}.log"

    def pid_file(self, name: str) -> Path:
        return self.run / f"{name}.pid"


def cluster_stages(
    paths: ClusterPaths, audit_backend: str = "embedded", registry: Registry | None = None,
    offset: int | None = None, tls: bool = False, ingest: str = "none",
    hosts: str | None = None,
) -> list[list[ServiceSpec]]:
    """Start order: the moto server (with --audit moto or --ingest kinesis), the audit
    service, then every registered agent, then the router (which needs both), then the
    stream consumer (with --ingest kinesis). Services of one stage start together. A moto
    server or consumer this cluster started is part of it until stopped. Every port is
    shifted by `offset` (default: AEGIS_CLUSTER_PORT_OFFSET). With `tls`, the gRPC services
    speak mutual TLS with the certificates of paths.tls, each presenting its own. `hosts`:
    which agents share a process (agent_hosts; default AEGIS_CLUSTER_AGENT_HOSTS)."""
    if audit_backend not in AUDIT_BACKENDS:
        raise ClusterError(f"unknown audit backend {audit_backend!r}; expected one of "
                           f"{', '.join(AUDIT_BACKENDS)}")
    if ingest not in INGEST_SOURCES:
        raise ClusterError(f"unknown ingestion {ingest!r}; expected one of "
                           f"{', '.join(INGEST_SOURCES)}")
    registry = registry or default_registry()
    offset = port_offset() if offset is None else offset
    # A running cluster keeps the agent processes it was started with, whatever the setting
    # says now: its pid files name them.
    hosts = hosts or _running_hosts(paths, registry)

    def service_env(prefix: str, port: int, **extra: str) -> dict[str, str]:
        settings = {"HOST": HOST, "PORT": str(port), "ENVIRONMENT": ENVIRONMENT,
                    "METRICS_PORT": str(port + METRICS_PORT_SHIFT)} | extra
        return {prefix + key: value for key, value in settings.items()}

    def service(name: str, args: tuple[str, ...], port: int, env: dict[str, str]) -> ServiceSpec:
        return ServiceSpec(name, args, port, env, metrics_port=port + METRICS_PORT_SHIFT)

    audit_env = service_env(
        "AEGIS_AUDIT_", AUDIT_PORT + offset,
        BACKEND="embedded" if audit_backend == "embedded" else "aws",
        DATA_DIR=str(paths.audit_data.resolve()),
    )
    streaming = ingest == "kinesis" or paths.pid_file(INGEST).exists()
    first: list[list[ServiceSpec]] = []
    moto_address = local_address(MOTO_PORT, offset)
    if audit_backend == "moto" or streaming or paths.pid_file(MOTO).exists():
        first.append([moto_spec(MOTO_PORT + offset, audit=audit_backend == "moto",
                                ingest=ingest == "kinesis")])
    if audit_backend == "moto":
        audit_env |= moto_audit_env(moto_address)

    def secured(spec: ServiceSpec, name: str = "") -> ServiceSpec:
        return with_tls(spec, paths, name) if tls else spec

    audit = secured(service("audit", ("-m", "audit_service"), AUDIT_PORT + offset, audit_env))
    agents: list[ServiceSpec] = []
    addresses: dict[str, str] = {}
    for group in agent_hosts(registry, hosts):
        port = group[0].port + offset
        # A host presents its first agent's certificate (the router names that peer).
        agents.append(secured(service(
            _host_name(group, registry), ("-m", "agent_services", *(e.name for e in group)),
            port, service_env("AEGIS_AGENT_", port),
        ), group[0].name))
        addresses |= {e.name: agents[-1].address for e in group}
    # Shifted or co-hosted agents are not where the registry says: the router is told where.
    moved = {"AGENT_ADDRS": json.dumps(addresses)} \
        if offset or len(agents) < len(registry.agents) else {}
    router = secured(service(
        "router", ("-m", "router_service"), ROUTER_PORT + offset,
        service_env("AEGIS_ROUTER_", ROUTER_PORT + offset, AUDIT_ADDR=audit.address, **moved),
    ))
    last: list[list[ServiceSpec]] = []
    if streaming:
        last.append([secured(service(
            INGEST, ("-m", "ingest_service"), INGEST_PORT + offset,
            service_env("AEGIS_INGEST_", INGEST_PORT + offset, ROUTER_ADDR=router.address,
                        **moto_ingest_env(moto_address)) | MOTO_CREDENTIALS,
        ))])
    return [*first, [audit], agents, [router], *last]


def service_environment(parent: Mapping[str, str], spec: ServiceSpec) -> dict[str, str]:
    """What a service process of the cluster starts with: the caller's environment (less its
    AEGIS_TLS_*: the cluster alone says whether a service speaks TLS), the gRPC core settings
    the caller does not set itself, and the service's own settings."""
    env = with_grpc_core_defaults(
        {k: v for k, v in parent.items() if not k.startswith(TLS_ENV_PREFIX)})
    return env | {"AEGIS_ENVIRONMENT": ENVIRONMENT, "PYTHONUNBUFFERED": "1"} | dict(spec.env)


def moto_audit_env(address: str) -> dict[str, str]:
    """The audit service's settings for the local moto server."""
    return {
        "AEGIS_AUDIT_S3_BUCKET": MOTO_STORAGE,
        "AEGIS_AUDIT_DYNAMODB_TABLE": MOTO_STORAGE,
        "AEGIS_AUDIT_AWS_ENDPOINT_URL": f"http://{address}",
        "AEGIS_AUDIT_AWS_REGION": MOTO_REGION,
        **MOTO_CREDENTIALS,
    }


def moto_ingest_env(address: str) -> dict[str, str]:
    """The stream consumer's settings (without their prefix) for the local moto server; the
    streams and the table keep IngestSettings' default names."""
    return {"AWS_ENDPOINT_URL": f"http://{address}", "AWS_REGION": MOTO_REGION}


def moto_spec(port: int = MOTO_PORT, audit: bool = True, ingest: bool = False) -> ServiceSpec:
    """moto in server mode; once it answers, what the cluster keeps on it is made: with
    `audit` the bucket and table (by the code of `aegis audit init`), with `ingest` the
    streams and the lease table (ingest_service.setup)."""
    address = f"{HOST}:{port}"

    def when_ready() -> None:
        if audit:
            init_moto_storage(address)
        if ingest:
            init_moto_streams(address)

    return ServiceSpec(
        MOTO, ("-m", "moto.server", "-H", HOST, "-p", str(port)), port,
        probe=http_answers, when_ready=when_ready,
    )


def _moto_session() -> Any:
    # Imported here: boto3 is an optional dependency (the `aws` and `ingest` extras, and dev).
    import boto3

    return boto3.session.Session(
        aws_access_key_id=MOTO_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=MOTO_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        region_name=MOTO_REGION,
    )


def init_moto_storage(address: str) -> None:
    from audit_service.aws.clients import make_clients
    from audit_service.aws.setup import init_storage

    env = moto_audit_env(address)
    settings = AuditSettings(
        backend="aws", s3_bucket=env["AEGIS_AUDIT_S3_BUCKET"],
        dynamodb_table=env["AEGIS_AUDIT_DYNAMODB_TABLE"],
        aws_endpoint_url=env["AEGIS_AUDIT_AWS_ENDPOINT_URL"], aws_region=MOTO_REGION,
    )
    init_storage(settings, make_clients(settings, _moto_session()))


def init_moto_streams(address: str) -> None:
    """The consumer's streams and lease table on the moto server at `address`."""
    from ingest_service.setup import create_resources

    session = _moto_session()
    endpoint = moto_ingest_env(address)["AWS_ENDPOINT_URL"]
    create_resources(session.client("kinesis", endpoint_url=endpoint),
                     session.client("dynamodb", endpoint_url=endpoint), IngestSettings())


@dataclass(frozen=True, slots=True)
class ServiceStatus:
    """One line of `aegis cluster status`; pid None when the service is not running."""

    name: str
    port: int
    pid: int | None
    health: str
    # The URL of its Prometheus endpoint; None for a process that serves none.
    metrics_url: str | None = None


class LocalCluster:
    """Starts, watches and stops the services of `stages`, one process each.

    Every process gets its own session (a Ctrl-C in the terminal reaches the manager, which
    then stops the services in order, instead of killing them all at once).
    """

    def __init__(
        self,
        stages: Sequence[Sequence[ServiceSpec]],
        paths: ClusterPaths,
        say: Callable[[str], None] = lambda line: print(line, file=sys.stderr),
    ) -> None:
        self.stages = [list(stage) for stage in stages]
        self.paths = paths
        self.say = say
        # The processes this manager started, so that it can reap them (not just signal).
        self.children: dict[str, subprocess.Popen[bytes]] = {}

    @property
    def services(self) -> list[ServiceSpec]:
        return [spec for stage in self.stages for spec in stage]

    # -- up ----------------------------------------------------------------------------------

    def up(self, timeout_s: float = 60.0) -> None:
        """Start what is not running, stage by stage; return once every service is SERVING.

        Idempotent: a running service is left alone. On failure, the services this call
        started are stopped again and ClusterError names the culprit with its log's tail.
        """
        deadline = time.monotonic() + timeout_s
        running = {spec.name: self.pid_of(spec) for spec in self.services}
        # Checked before starting anything, so that a taken port costs no start and stop.
        blocked = [spec for spec in self.services if running[spec.name] is None and any(
            _port_taken(port) for port in (spec.port, spec.metrics_port) if port is not None)]
        if blocked:
            ports = ", ".join(f"{spec.name} ({spec.port})" for spec in blocked)
            raise ClusterError(
                f"ports in use by processes this cluster did not start (no pid file in "
                f"{self.paths.run}): {ports}; stop them or free the ports"
            )
        started: list[ServiceSpec] = []
        try:
            for stage in self.stages:
                for spec in stage:
                    pid = running[spec.name]
                    if pid is not None:
                        self.say(f"{spec.name}: already running (pid {pid})")
                        continue
                    self._start(spec)
                    started.append(spec)
                self._await_serving(stage, deadline, timeout_s)
        except BaseException:
            if started:
                self.say("stopping the services this command started")
                self._stop(list(reversed(started)), grace_s=10.0)
            raise

    def _start(self, spec: ServiceSpec) -> None:
        for folder in (self.paths.logs, self.paths.run):
            folder.mkdir(parents=True, exist_ok=True)
        env = service_environment(os.environ, spec)
        log_path = self.paths.log(spec.name)
        with log_path.open("ab") as log:
            stamp = datetime.now(UTC).isoformat(timespec="seconds")
            log.write(f"--- {stamp} aegis cluster: {' '.join(spec.command)}\n".encode())
            log.flush()
            process = subprocess.Popen(
                spec.command, cwd=Path.cwd(), env=env, stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True,
            )
        self.children[spec.name] = process
        _write_atomically(self.paths.pid_file(spec.name), f"{process.pid}\n")
        self.say(f"{spec.name}: started (pid {process.pid}, port {spec.port}, log {log_path})")

    def _await_serving(
        self, stage: Sequence[ServiceSpec], deadline: float, timeout_s: float
    ) -> None:
        waiting = {spec.name: spec for spec in stage}
        health = dict.fromkeys(waiting, "UNREACHABLE")
        while waiting:
            for name, spec in list(waiting.items()):
                if self.pid_of(spec) is None:
                    raise ClusterError(
                        f"{name} exited while starting{self._exit_status(name)}; "
                        + self.log_tail(name)
                    )
                health[name] = spec.probe(spec.address)
                if health[name] == SERVING:
                    self.say(f"{name}: SERVING on {spec.address}")
                    if spec.when_ready is not None:
                        spec.when_ready()
                    del waiting[name]
            if waiting and time.monotonic() > deadline:
                late = ", ".join(f"{n} ({health[n]})" for n in waiting)
                tails = "; ".join(self.log_tail(n) for n in waiting)
                raise ClusterError(f"not SERVING after {timeout_s:g} s: {late}; {tails}")
            if waiting:
                time.sleep(_POLL_S)

    def _exit_status(self, name: str) -> str:
        child = self.children.get(name)
        if child is None or child.poll() is None:
            return ""
        return f" with status {child.returncode}"

    def log_tail(self, name: str, lines: int = _LOG_TAIL_LINES) -> str:
        """The last lines of a service's log, to show why it failed."""
        path = self.paths.log(name)
        try:
            text = path.read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            return f"no log at {path}"
        return f"last lines of {path}:\n" + "\n".join("  " + line for line in text)

    # -- down --------------------------------------------------------------------------------

    def down(self, timeout_s: float = 30.0) -> None:
        """Stop every running service, the router first and the audit service last (so that
        decisions in flight are still recorded)."""
        running = [spec for spec in reversed(self.services) if self.pid_of(spec) is not None]
        if not running:
            self.say("nothing is running")
            return
        by_stage = [
            [spec for spec in reversed(stage) if spec in running]
            for stage in reversed(self.stages)
        ]
        for stage in by_stage:
            self._stop(stage, grace_s=timeout_s)

    def _stop(self, specs: Sequence[ServiceSpec], grace_s: float) -> None:
        """SIGTERM all of `specs` at once (each drains), wait, SIGKILL the ones that stay."""
        pids = {spec.name: pid for spec in specs if (pid := self.pid_of(spec)) is not None}
        for name, pid in pids.items():
            self.say(f"{name}: stopping (SIGTERM to pid {pid})")
            _signal_group(pid, signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        for name, pid in pids.items():
            if not self._wait_gone(name, pid, deadline):
                self.say(f"{name}: still running {grace_s:g} s after SIGTERM; sending SIGKILL")
                _signal_group(pid, signal.SIGKILL)
                self._wait_gone(name, pid, time.monotonic() + 5.0)
            self.paths.pid_file(name).unlink(missing_ok=True)
            self.children.pop(name, None)
            self.say(f"{name}: stopped")

    def _wait_gone(self, name: str, pid: int, deadline: float) -> bool:
        child = self.children.get(name)
        while True:
            if child is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    child.wait(timeout=max(0.0, min(_POLL_S, deadline - time.monotonic())))
                    return True
            elif not _alive(pid):
                return True
            else:
                time.sleep(_POLL_S)
            if time.monotonic() >= deadline:
                return False

    # -- status ------------------------------------------------------------------------------

    def pid_of(self, spec: ServiceSpec) -> int | None:
        """The pid of the service's process when it runs; a stale pid file is removed."""
        path = self.paths.pid_file(spec.name)
        child = self.children.get(spec.name)
        if child is not None:
            # Our own child: its exit status is the truth. (Its /proc cmdline is not, for a
            # moment after the fork it still shows this process's command line.)
            if child.poll() is None:
                return child.pid
            path.unlink(missing_ok=True)
            return None
        try:
            pid = int(path.read_text().strip())
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            pid = 0
        if pid > 0 and _alive(pid) and _runs(pid, spec.args):
            return pid
        path.unlink(missing_ok=True)
        return None

    def status(self) -> list[ServiceStatus]:
        """Every service in start order, with its health (STOPPED when not running)."""
        result = []
        for spec in self.services:
            pid = self.pid_of(spec)
            health = spec.probe(spec.address) if pid is not None else "STOPPED"
            if pid is None and _port_taken(spec.port):
                health = "PORT IN USE (not ours)"
            result.append(ServiceStatus(spec.name, spec.port, pid, health, metrics_url(spec)))
        return result

    def first_dead(self) -> str | None:
        """The name of a service that was started and is no longer running, if any."""
        for spec in self.services:
            if self.pid_of(spec) is None:
                return spec.name
        return None


def metrics_url(spec: ServiceSpec) -> str | None:
    """Where a service's Prometheus metrics are scraped."""
    if spec.metrics_port is None:
        return None
    return f"http://{HOST}:{spec.metrics_port}/metrics"


def _write_atomically(path: Path, text: str) -> None:
    partial = path.with_suffix(path.suffix + ".tmp")
    partial.write_text(text)
    partial.replace(path)


def _port_taken(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((HOST, port))
        except OSError as exc:
            return exc.errno == errno.EADDRINUSE
    return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie has exited; only its parent has not collected it yet.
    stat = Path(f"/proc/{pid}/stat")
    with contextlib.suppress(OSError):
        return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
    return True


def _runs(pid: int, args: Sequence[str]) -> bool:
    """Whether `pid` still runs our command, not a later process that reused the number.
    Where /proc is absent (macOS), the pid file is trusted."""
    cmdline = Path(f"/proc/{pid}/cmdline")
    try:
        argv = cmdline.read_bytes().split(b"\0")
    except OSError:
        return not Path("/proc").is_dir()
    wanted = [arg.encode() for arg in args]
    return any(argv[i : i + len(wanted)] == wanted for i in range(len(argv)))


def _signal_group(pid: int, sig: signal.Signals) -> None:
    # The service leads its own session and group, so the group reaches any helper
    # processes it has started too.
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        return
    except PermissionError:
        os.kill(pid, sig)
