"""Integration tests start whole clusters: on shifted ports, so that they never collide with
a developer's cluster (or an evaluation) on the default ones."""

from __future__ import annotations

import pytest

from aegis_cli.cluster import PORT_OFFSET_ENV

TEST_PORT_OFFSET = "1000"


@pytest.fixture(autouse=True)
def shifted_cluster_ports(monkeypatch: pytest.MonkeyPatch) -> None:
    # The subprocesses (make, aegis, bench) inherit it, and so find each other.
    monkeypatch.setenv(PORT_OFFSET_ENV, TEST_PORT_OFFSET)
