"""Integration tests start whole clusters: on shifted ports, so that they never collide with
a developer's cluster (or an evaluation) on the default ones. AEGIS_TEST_PORT_OFFSET (-20000)
moves them, so that two test runs can share a machine. The default puts every port (30050-30170)
below Linux's ephemeral range, where the suite's own outgoing connections could hold one and
refuse the cluster its port."""

from __future__ import annotations

import os

import pytest

from aegis_mesh.cluster import PORT_OFFSET_ENV

TEST_PORT_OFFSET = os.environ.get("AEGIS_TEST_PORT_OFFSET", "-20000")


@pytest.fixture(autouse=True)
def shifted_cluster_ports(
    monkeypatch: pytest.MonkeyPatch, no_caller_cluster_settings: None
) -> None:
    # The subprocesses (make, aegis, bench) inherit it, and so find each other.
    monkeypatch.setenv(PORT_OFFSET_ENV, TEST_PORT_OFFSET)
