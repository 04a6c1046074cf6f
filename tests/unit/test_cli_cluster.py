"""The local cluster manager: start order and settings, pid files, stopping real processes."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from aegis_cli.cmd_audit import agent_addresses
from aegis_cli.cmd_cluster import config_ending_now, stream_hint
from aegis_cli.main import build_parser, main
from aegis_domain.registry import default_registry
from aegis_lab.world import DEFAULT_START, generate
from aegis_mesh.cluster import (
    AGENT_HOSTS_ENV,
    AUDIT_PORT,
    INGEST_PORT,
    MOTO_PORT,
    PORT_OFFSET_ENV,
    ROUTER_PORT,
    ClusterError,
    ClusterPaths,
    LocalCluster,
    ServiceSpec,
    cluster_stages,
    port_offset,
    router_address,
)
from ingest_service.settings import IngestSettings
from router_service.settings import RouterSettings

# Stays alive until stopped; says "ready" once its SIGTERM handling is in place.
OBEDIENT = "import time; print('ready', flush=True); time.sleep(120)"
STUBBORN = (
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    "print('ready', flush=True); time.sleep(120)"
)


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A port held by a process that is not part of the cluster (this test)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def spawn(paths: ClusterPaths, spec: ServiceSpec) -> subprocess.Popen[str]:
    """A process started as `aegis cluster up` would have, pid file included."""
    process = subprocess.Popen(
        spec.command, stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "ready"
    paths.run.mkdir(parents=True, exist_ok=True)
    paths.pid_file(spec.name).write_text(f"{process.pid}\n")
    return process


def test_audit_starts_first_then_every_registered_agent_then_the_router(tmp_path: Path) -> None:
    paths = ClusterPaths(tmp_path / ".aegis")

    audit, agents, router = cluster_stages(paths, "embedded", hosts="none")

    assert [s.name for s in audit] == ["audit"]
    assert [s.name for s in agents] == default_registry().names
    assert [s.name for s in router] == ["router"]
    assert [s.port for s in agents] == [e.port for e in default_registry().agents]
    assert (audit[0].port, router[0].port) == (AUDIT_PORT, ROUTER_PORT)
    assert audit[0].args == ("-m", "audit_service")
    assert agents[0].args == ("-m", "agent_services", agents[0].name)
    assert router[0].args == ("-m", "router_service")


def test_each_service_gets_its_settings_from_the_environment(tmp_path: Path) -> None:
    paths = ClusterPaths(tmp_path / ".aegis")

    (audit,), agents, (router,) = cluster_stages(paths, "embedded")

    assert audit.env["AEGIS_AUDIT_DATA_DIR"] == str((tmp_path / ".aegis/audit-data").resolve())
    assert audit.env["AEGIS_AUDIT_BACKEND"] == "embedded"
    assert audit.env["AEGIS_AUDIT_PORT"] == str(AUDIT_PORT)
    assert router.env["AEGIS_ROUTER_AUDIT_ADDR"] == audit.address
    for spec in (audit, *agents, router):
        assert any(k.endswith("_ENVIRONMENT") and v == "local" for k, v in spec.env.items())
    assert {a.env["AEGIS_AGENT_PORT"] for a in agents} == {str(a.port) for a in agents}


def test_a_port_offset_shifts_every_service_and_tells_the_router_where_agents_are(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PORT_OFFSET_ENV, "700")

    (moto,), (audit,), agents, (router,) = cluster_stages(ClusterPaths(tmp_path), "moto",
                                                          hosts="none")

    assert (moto.port, audit.port, router.port) == (MOTO_PORT + 700, AUDIT_PORT + 700,
                                                     ROUTER_PORT + 700)
    assert [a.port for a in agents] == [e.port + 700 for e in default_registry().agents]
    assert audit.env["AEGIS_AUDIT_AWS_ENDPOINT_URL"].endswith(f":{MOTO_PORT + 700}")
    for key, value in router.env.items():
        monkeypatch.setenv(key, value)
    settings = RouterSettings()
    assert {a.name: settings.agent_address(a.name, 1) for a in agents} == {
        a.name: a.address for a in agents
    }
    assert router_address() == router.address


def test_agents_that_share_a_host_are_one_process_the_router_finds_at_one_address(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(AGENT_HOSTS_ENV, "geo+detection")
    registry = default_registry()

    _, agents, (router,) = cluster_stages(ClusterPaths(tmp_path), "embedded")

    (host,) = [a for a in agents if a.name == "geo+detection"]
    alone = [a for a in agents if a is not host]
    assert host.args == ("-m", "agent_services", "geo", "detection")
    assert host.port == registry.get("geo").port
    assert [a.name for a in alone] == [n for n in registry.names if n not in ("geo", "detection")]
    for key, value in router.env.items():
        monkeypatch.setenv(key, value)
    settings = RouterSettings()
    where = {e.name: settings.agent_address(e.name, e.port) for e in registry.agents}
    assert where["geo"] == where["detection"] == host.address
    assert {where[a.name] for a in alone} == {a.address for a in alone}


@pytest.mark.parametrize(("hosts", "processes"), [("all", 1), ("none", 4), ("geo+behavior", 3)])
def test_the_agent_hosts_setting_says_how_many_agent_processes_run(
    tmp_path: Path, hosts: str, processes: int
) -> None:
    _, agents, _ = cluster_stages(ClusterPaths(tmp_path), "embedded", hosts=hosts)

    assert len(agents) == processes
    assert sorted(n for a in agents for n in a.args[2:]) == sorted(default_registry().names)


def test_a_running_cluster_keeps_its_agent_processes_whatever_the_setting_says_now(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = ClusterPaths(tmp_path)
    _, (host,), _ = cluster_stages(paths, "embedded", hosts="all")
    assert host.name == "agents"
    paths.run.mkdir(parents=True)
    paths.pid_file(host.name).write_text("12345")
    monkeypatch.setenv(AGENT_HOSTS_ENV, "none")

    _, agents, _ = cluster_stages(paths, "embedded")

    assert [a.name for a in agents] == ["agents"]


def test_an_unknown_agent_in_the_hosts_setting_is_refused_naming_it(tmp_path: Path) -> None:
    with pytest.raises(ClusterError, match=f"{AGENT_HOSTS_ENV}.*'gep'"):
        cluster_stages(ClusterPaths(tmp_path), "embedded", hosts="gep+behavior")


def test_a_negative_port_offset_moves_every_port_below_the_ephemeral_range(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PORT_OFFSET_ENV, "-20000")

    specs = [spec for stage in cluster_stages(ClusterPaths(tmp_path), "moto") for spec in stage]

    ports = [p for spec in specs for p in (spec.port, spec.metrics_port) if p is not None]
    assert ROUTER_PORT - 20000 in ports
    assert all(1024 <= port < 32768 for port in ports)


@pytest.mark.parametrize("raw", ["ten", "-49027", "60000"])
def test_a_bad_port_offset_is_refused_naming_the_setting(
    raw: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PORT_OFFSET_ENV, raw)
    with pytest.raises(ClusterError, match=PORT_OFFSET_ENV):
        port_offset()


def test_kinesis_ingestion_adds_moto_first_and_the_consumer_after_the_router(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PORT_OFFSET_ENV, "700")
    paths = ClusterPaths(tmp_path)

    (moto,), (audit,), _agents, (router,), (ingest,) = cluster_stages(
        paths, "embedded", ingest="kinesis")

    assert (moto.name, ingest.name, ingest.port) == ("moto", "ingest", INGEST_PORT + 700)
    # The audit stays embedded: only the streams live on moto.
    assert audit.env["AEGIS_AUDIT_BACKEND"] == "embedded"
    assert "AEGIS_AUDIT_AWS_ENDPOINT_URL" not in audit.env
    for key, value in ingest.env.items():
        monkeypatch.setenv(key, value)
    settings = IngestSettings()
    assert settings.router_addr == router.address
    assert settings.aws_endpoint_url == f"http://{moto.address}"
    assert ingest.env["AWS_ACCESS_KEY_ID"] == "moto"
    # Later commands without --ingest (status, down) still see the consumer it started.
    paths.run.mkdir()
    paths.pid_file("ingest").write_text("1\n")
    assert [s.name for s in cluster_stages(paths)[-1]] == ["ingest"]


def test_the_stream_commands_are_told_where_the_clusters_moto_answers(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PORT_OFFSET_ENV, "700")
    hint = stream_hint()
    assert f"AEGIS_INGEST_AWS_ENDPOINT_URL=http://127.0.0.1:{MOTO_PORT + 700} " in hint
    assert "AWS_ACCESS_KEY_ID=moto" in hint and hint.endswith("aegis stream put FILE")


def test_an_unknown_ingestion_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ClusterError, match="unknown ingestion 'kafka'"):
        cluster_stages(ClusterPaths(tmp_path), ingest="kafka")


def test_an_unknown_audit_backend_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ClusterError, match="unknown audit backend 'dynamo'"):
        cluster_stages(ClusterPaths(tmp_path), "dynamo")


def test_a_stale_or_garbled_pid_file_means_stopped_and_is_removed(tmp_path: Path) -> None:
    paths = ClusterPaths(tmp_path)
    spec = ServiceSpec("router", ("-c", OBEDIENT), free_port())
    cluster = LocalCluster([[spec]], paths, say=lambda _: None)
    paths.run.mkdir(parents=True)

    for content in ("999999999\n", "not a pid\n"):
        paths.pid_file("router").write_text(content)
        assert cluster.pid_of(spec) is None
        assert not paths.pid_file("router").exists()


def test_a_pid_reused_by_another_program_is_not_ours(tmp_path: Path) -> None:
    paths = ClusterPaths(tmp_path)
    other = spawn(paths, ServiceSpec("router", ("-c", OBEDIENT), 1))
    try:
        spec = ServiceSpec("router", ("-m", "router_service"), free_port())
        cluster = LocalCluster([[spec]], paths, say=lambda _: None)

        assert cluster.pid_of(spec) is None
    finally:
        other.kill()
        other.wait()


def test_down_stops_the_router_before_the_audit_service(tmp_path: Path) -> None:
    paths = ClusterPaths(tmp_path)
    audit = ServiceSpec("audit", ("-c", OBEDIENT + "  # audit"), free_port())
    router = ServiceSpec("router", ("-c", OBEDIENT + "  # router"), free_port())
    processes = [spawn(paths, audit), spawn(paths, router)]
    said: list[str] = []
    cluster = LocalCluster([[audit], [router]], paths, say=said.append)

    cluster.down(timeout_s=30)

    assert [p.wait(timeout=30) for p in processes] == [-15, -15]
    assert [line for line in said if line.endswith("stopped")] == [
        "router: stopped", "audit: stopped",
    ]
    assert not any(paths.run.glob("*.pid"))
    assert all(s.pid is None for s in cluster.status())


def test_a_service_that_ignores_sigterm_is_killed_and_the_user_told(tmp_path: Path) -> None:
    paths = ClusterPaths(tmp_path)
    spec = ServiceSpec("geo", ("-c", STUBBORN), free_port())
    process = spawn(paths, spec)
    said: list[str] = []

    LocalCluster([[spec]], paths, say=said.append).down(timeout_s=0.5)

    assert process.wait(timeout=30) == -9
    assert "geo: still running 0.5 s after SIGTERM; sending SIGKILL" in said


def test_down_with_nothing_running_says_so(tmp_path: Path) -> None:
    said: list[str] = []
    spec = ServiceSpec("geo", ("-c", OBEDIENT), free_port())

    LocalCluster([[spec]], ClusterPaths(tmp_path), say=said.append).down()

    assert said == ["nothing is running"]


def test_up_refuses_a_port_held_by_another_process_before_starting_anything(
    tmp_path: Path, listener: socket.socket
) -> None:
    paths = ClusterPaths(tmp_path)
    port = listener.getsockname()[1]
    first = ServiceSpec("audit", ("-c", OBEDIENT), free_port())
    taken = ServiceSpec("router", ("-c", OBEDIENT), port)
    cluster = LocalCluster([[first], [taken]], paths, say=lambda _: None)

    with pytest.raises(ClusterError, match=rf"ports in use .*: router \({port}\)"):
        cluster.up(timeout_s=5)
    assert not paths.logs.exists()
    assert [s.health for s in cluster.status()] == ["STOPPED", "PORT IN USE (not ours)"]


def test_up_names_a_service_that_dies_while_starting_with_its_log(tmp_path: Path) -> None:
    paths = ClusterPaths(tmp_path)
    crash = "import sys; print('cannot load the model', flush=True); sys.exit(3)"
    spec = ServiceSpec("detection", ("-c", crash), free_port())
    cluster = LocalCluster([[spec]], paths, say=lambda _: None)

    with pytest.raises(ClusterError) as raised:
        cluster.up(timeout_s=60)

    message = str(raised.value)
    assert "detection exited while starting with status 3" in message
    assert "cannot load the model" in message
    assert not paths.pid_file("detection").exists()


def test_cluster_run_generates_logins_that_end_within_the_day_before_now() -> None:
    args = build_parser().parse_args(["cluster", "run", "--events", "200", "--seed", "3"])

    config = config_ending_now(args)

    last = list(generate(config))[-1].event.timestamp.ToDatetime(tzinfo=UTC)
    assert timedelta(0) <= datetime.now(UTC) - last <= timedelta(days=1)
    assert (config.start - DEFAULT_START) % timedelta(days=1) == timedelta(0)


def test_audit_replay_reaches_the_agents_of_the_shifted_cluster(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PORT_OFFSET_ENV, "700")
    monkeypatch.setenv("AEGIS_ROUTER_AGENT_ADDRS", '{"geo": "10.0.0.7:50064"}')

    registry = default_registry()

    addresses = agent_addresses(RouterSettings(), registry)

    # A process per agent (the default), each on its own shifted port.
    assert addresses == {
        e.name: "10.0.0.7:50064" if e.name == "geo" else f"127.0.0.1:{e.port + 700}"
        for e in registry.agents
    }
    # One agent host listens on its first agent's port.
    monkeypatch.setenv(AGENT_HOSTS_ENV, "all")
    assert agent_addresses(RouterSettings(), registry)["behavior"] == \
        f"127.0.0.1:{registry.agents[0].port + 700}"


def test_help_documents_the_port_offset(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])

    assert PORT_OFFSET_ENV in " ".join(capsys.readouterr().out.split())


def test_a_bad_port_offset_is_bad_input_for_every_command(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(PORT_OFFSET_ENV, "ten")

    assert main(["score", "--user", "u1", "--ip", "81.166.1.2"]) == 2
    assert f"{PORT_OFFSET_ENV}='ten' is not a whole number" in capsys.readouterr().err
