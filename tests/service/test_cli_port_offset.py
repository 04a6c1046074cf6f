"""Every command that talks to a service follows AEGIS_CLUSTER_PORT_OFFSET to the shifted
local cluster, as `aegis cluster` does."""

from __future__ import annotations

import socket

import pytest

from aegis.v1 import agent_pb2_grpc
from aegis_cli.main import main
from aegis_domain.registry import default_registry
from aegis_mesh.cluster import MAX_PORT_OFFSET, PORT_OFFSET_ENV, agent_host_of
from tests.service.test_cli_rpc import FakeAgent, Hosted, serving


def free_offset(port: int) -> int:
    """An offset that moves `port` to one nothing listens on."""
    for offset in range(2000, MAX_PORT_OFFSET, 97):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port + offset))
            except OSError:
                continue
            return offset
    raise RuntimeError(f"no free port above {port}")


def test_agent_talks_to_the_agent_of_the_shifted_cluster(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # The local cluster serves geo from its agent host, on the host's first agent's port.
    port = agent_host_of(default_registry())["geo"].port
    offset = free_offset(port)
    monkeypatch.setenv(PORT_OFFSET_ENV, str(offset))

    with serving(Hosted(agent_pb2_grpc, "AgentService", FakeAgent()), port=port + offset):
        status = main(["agent", "geo", "--describe"])

    assert status == 0
    assert capsys.readouterr().out.startswith("geo  READY  model geo-7")
