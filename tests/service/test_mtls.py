"""Mutual TLS and per-RPC authorisation through real servers on ephemeral ports: every row of
the authorisation table against every kind of caller, refusals at the handshake, the
reviewer recorded from the certificate, a Score through a mesh that speaks only TLS, and the
container health check with the PEMs ECS injects."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from aegis.v1 import audit_pb2, audit_pb2_grpc, common_pb2, router_pb2, router_pb2_grpc
from aegis_cli.errors import FAILURE
from aegis_cli.main import main
from aegis_domain.authorization import AUTHORISED, Role, role_of, spiffe_id
from aegis_domain.registry import Registry
from aegis_mesh.certificates import LOCAL_REVIEWER, cluster_identities, write_identities
from aegis_runtime import healthcheck
from aegis_runtime.channels import service_channel
from aegis_runtime.server import RunningServer
from aegis_runtime.tls import NOT_OUR_CA, TlsIdentity, TlsSettings
from agent_services.host import AgentComponent
from agent_services.noop import NoopAgent
from audit_service.component import AuditComponent
from audit_service.settings import AuditSettings
from router_service.component import RouterComponent
from router_service.policy import load_policy
from router_service.settings import DEFAULT_POLICY, RouterSettings
from tests.service.mesh import entry, local
from tests.service.test_router import event
from tests.unit.audit_builders import make_record

AGENT = "geo"
# A certificate of our CA whose identity lies outside the trust domain.
STRANGER = "stranger"
CALLERS = ("router", "audit", AGENT, "client", "ingest", "reviewer", "operator", STRANGER)


@dataclass
class TlsMesh:
    """Audit, one agent and the router, each presenting its own certificate."""

    certs: Path
    audit: RunningServer
    agent: RunningServer
    router: RunningServer

    def port_of(self, method: str) -> tuple[str, int]:
        service = method.split("/")[1]
        server = {"aegis.v1.RouterService": self.router, "aegis.v1.AgentService": self.agent,
                  "aegis.v1.AuditService": self.audit}[service]
        return {self.router: "router", self.agent: AGENT, self.audit: "audit"}[server], server.port

    def channel(self, caller: str, peer: str, port: int) -> grpc.aio.Channel:
        identity = TlsIdentity.from_dir(self.certs, caller)
        return service_channel(f"127.0.0.1:{port}", tls=identity, peer=peer)


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("tls")
    identities = cluster_identities(Registry(agents=(entry(AGENT),)))
    write_identities(folder, identities | {STRANGER: "spiffe://elsewhere/router"})
    return folder


@pytest.fixture(scope="module")
def other_ca(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same names and identities, signed by another CA."""
    folder = tmp_path_factory.mktemp("other-tls")
    write_identities(folder, cluster_identities(Registry(agents=(entry(AGENT),))))
    return folder


@contextlib.asynccontextmanager
async def tls_mesh(certs: Path, data_dir: Path) -> AsyncIterator[TlsMesh]:
    def tls(name: str) -> TlsIdentity:
        return TlsIdentity.from_dir(certs, name)

    started: list[RunningServer] = []

    async def start(server: RunningServer) -> RunningServer:
        await server.start()
        started.append(server)
        return server

    try:
        audit = await start(RunningServer(
            AuditComponent(AuditSettings(port=0, data_dir=data_dir, log_format="text")),
            local(), tls("audit"),
        ))
        agent = await start(RunningServer(AgentComponent(NoopAgent()), local(), tls(AGENT)))
        settings = RouterSettings(
            port=0, audit_addr=f"127.0.0.1:{audit.port}",
            agent_addrs={AGENT: f"127.0.0.1:{agent.port}"}, grace_period_s=1.0,
            startup_timeout_s=5.0,
        )
        component = RouterComponent(
            settings, Registry(agents=(entry(AGENT),)), load_policy(DEFAULT_POLICY),
            tls=tls("router"),
        )
        router = await start(RunningServer(component, settings, tls("router")))
        yield TlsMesh(certs, audit, agent, router)
    finally:
        for server in reversed(started):
            await server.stop(0.5)


async def outcome(mesh: TlsMesh, caller: str, method: str) -> str:
    """The status of an empty request to `method` as `caller` (past authorisation, an empty
    request is refused by the handler itself: INVALID_ARGUMENT, NOT_FOUND, or OK)."""
    peer, port = mesh.port_of(method)
    async with mesh.channel(caller, peer, port) as channel:
        try:
            if method.endswith("/ScoreStream"):
                async for _ in channel.stream_stream(method)(iter(()), timeout=5.0):
                    pass
            else:
                await channel.unary_unary(method)(b"", timeout=5.0)
        except grpc.aio.AioRpcError as exc:
            return exc.code().name
    return "OK"


def expected(caller: str, method: str) -> str:
    identity = cluster_identities(Registry(agents=(entry(AGENT),))).get(caller)
    if identity is None:
        return "UNAUTHENTICATED"
    return "admitted" if role_of(identity) in AUTHORISED[method] else "PERMISSION_DENIED"


def test_every_row_of_the_table_admits_its_callers_and_refuses_the_others(
    certs: Path, tmp_path: Path
) -> None:
    async def scenario() -> dict[tuple[str, str], str]:
        async with tls_mesh(certs, tmp_path / "audit") as mesh:
            return {
                (method, caller): await outcome(mesh, caller, method)
                for method in AUTHORISED for caller in CALLERS
            }

    seen = asyncio.run(scenario())
    refusals = {"PERMISSION_DENIED", "UNAUTHENTICATED"}
    got = {key: code if code in refusals else "admitted" for key, code in seen.items()}
    assert got == {key: expected(key[1], key[0]) for key in seen}
    # An admitted empty request reached its handler: never a transport failure.
    assert not {code for code in seen.values()} & {"UNAVAILABLE", "DEADLINE_EXCEEDED"}


def test_health_answers_any_authenticated_peer(certs: Path, tmp_path: Path) -> None:
    async def scenario() -> list[int]:
        async with tls_mesh(certs, tmp_path / "audit") as mesh:
            statuses = []
            for caller in ("client", "reviewer", AGENT):
                async with mesh.channel(caller, "audit", mesh.audit.port) as channel:
                    reply = await health_pb2_grpc.HealthStub(channel).Check(
                        health_pb2.HealthCheckRequest(), timeout=5.0
                    )
                    statuses.append(reply.status)
            return statuses

    assert asyncio.run(scenario()) == [health_pb2.HealthCheckResponse.SERVING] * 3


@pytest.mark.parametrize("caller", ["plaintext", "no certificate", "other CA"])
def test_plaintext_and_unverified_callers_are_refused_at_the_handshake(
    certs: Path, other_ca: Path, tmp_path: Path, caller: str
) -> None:
    def channel(port: int) -> grpc.aio.Channel:
        address = f"127.0.0.1:{port}"
        if caller == "plaintext":
            return grpc.aio.insecure_channel(address)
        if caller == "no certificate":
            credentials = grpc.ssl_channel_credentials((certs / "ca.pem").read_bytes())
            return grpc.aio.secure_channel(
                address, credentials, options=[("grpc.ssl_target_name_override", "audit")]
            )
        # Trusts our CA (so the server is accepted) but presents another CA's certificate.
        theirs = TlsIdentity.from_dir(other_ca, "router")
        mixed = TlsIdentity(ca=(certs / "ca.pem").read_bytes(), cert=theirs.cert, key=theirs.key)
        return service_channel(address, tls=mixed, peer="audit")

    async def scenario() -> tuple[grpc.StatusCode, int]:
        async with tls_mesh(certs, tmp_path / "audit") as mesh:
            async with channel(mesh.audit.port) as refused:
                with pytest.raises(grpc.aio.AioRpcError) as caught:
                    await audit_pb2_grpc.AuditServiceStub(refused).Record(
                        audit_pb2.RecordRequest(record=make_record("forged")), timeout=5.0
                    )
            async with mesh.channel("operator", "audit", mesh.audit.port) as channel_ok:
                listed = await audit_pb2_grpc.AuditServiceStub(channel_ok).ListDecisions(
                    audit_pb2.ListDecisionsRequest(user_id="alice"), timeout=5.0
                )
            return caught.value.code(), len(listed.decisions)

    code, recorded = asyncio.run(scenario())
    # gRPC reports a failed handshake as UNAVAILABLE: the call never reached a handler.
    assert code is grpc.StatusCode.UNAVAILABLE
    assert recorded == 0


@pytest.mark.parametrize(
    ("tls_dir", "said"),
    [
        ("their certificate", NOT_OUR_CA),
        ("their CA only", "the server's certificate is not from our CA"),
        ("none", "the server speaks TLS only: set AEGIS_TLS_DIR"),
    ],
)
def test_the_cli_says_which_side_refused_the_handshake(
    certs: Path, other_ca: Path, tmp_path: Path, tls_dir: str, said: str,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    """gRPC Python cannot answer UNAUTHENTICATED to a caller it refused in the handshake (its
    server credentials require and verify a client certificate there, or request none), and
    its client says only UNAVAILABLE "Socket closed": the CLI finds out which side refused."""
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    (mixed / "ca.pem").write_bytes((certs / "ca.pem").read_bytes())
    for name in ("reviewer.pem", "reviewer.key"):
        (mixed / name).write_bytes((other_ca / name).read_bytes())
    folders = {"their certificate": mixed, "their CA only": other_ca}
    if tls_dir in folders:
        monkeypatch.setenv("AEGIS_TLS_DIR", str(folders[tls_dir]))
    else:
        monkeypatch.delenv("AEGIS_TLS_DIR", raising=False)

    async def scenario() -> int:
        async with tls_mesh(certs, tmp_path / "audit") as mesh:
            address = f"127.0.0.1:{mesh.audit.port}"
            return await asyncio.to_thread(
                main, ["review", "list", "--audit-addr", address, "--timeout", "5"]
            )

    assert asyncio.run(scenario()) == FAILURE
    assert said in capsys.readouterr().err


def test_the_reviewer_recorded_is_the_certificates_not_the_requests(
    certs: Path, tmp_path: Path
) -> None:
    async def scenario() -> str:
        async with tls_mesh(certs, tmp_path / "audit") as mesh:
            async with mesh.channel("router", "audit", mesh.audit.port) as as_router:
                await audit_pb2_grpc.AuditServiceStub(as_router).Record(
                    audit_pb2.RecordRequest(
                        record=make_record("esc-1", action=common_pb2.ACTION_ESCALATE)
                    ),
                    timeout=5.0,
                )
            async with mesh.channel("reviewer", "audit", mesh.audit.port) as as_reviewer:
                decided = await audit_pb2_grpc.AuditServiceStub(as_reviewer).DecideReview(
                    audit_pb2.DecideReviewRequest(
                        decision_id="esc-1", outcome=common_pb2.REVIEW_OUTCOME_APPROVE,
                        reviewer="nobody", reason="called the customer: it was her new phone",
                    ),
                    timeout=5.0,
                )
            return decided.review.reviewer

    assert asyncio.run(scenario()) == spiffe_id(Role.REVIEWER, LOCAL_REVIEWER)


def test_a_score_crosses_the_mesh_over_tls_and_is_audited(certs: Path, tmp_path: Path) -> None:
    async def scenario() -> tuple[router_pb2.ScoreResponse, audit_pb2.GetDecisionResponse]:
        async with tls_mesh(certs, tmp_path / "audit") as mesh:
            async with mesh.channel("client", "router", mesh.router.port) as as_client:
                reply = await router_pb2_grpc.RouterServiceStub(as_client).Score(
                    router_pb2.ScoreRequest(event=event()), timeout=5.0
                )
            async with mesh.channel("operator", "audit", mesh.audit.port) as as_operator:
                found = await audit_pb2_grpc.AuditServiceStub(as_operator).GetDecision(
                    audit_pb2.GetDecisionRequest(decision_id=reply.decision.decision_id),
                    timeout=5.0,
                )
            return reply, found

    reply, found = asyncio.run(scenario())
    assert [s.status for s in reply.decision.signals] == [common_pb2.SIGNAL_STATUS_OK]
    assert not reply.decision.degraded_agents
    assert found.record.decision.decision_id == reply.decision.decision_id


def test_the_container_health_check_speaks_tls_with_the_pems_ecs_injects(
    certs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As on ECS: the task's own CA, certificate and key in AEGIS_TLS_*_PEM, no folder."""
    for setting, name in (("CA", "ca.pem"), ("CERT", "audit.pem"), ("KEY", "audit.key")):
        monkeypatch.setenv(f"AEGIS_TLS_{setting}_PEM", (certs / name).read_text())

    async def scenario() -> tuple[int, int]:
        async with tls_mesh(certs, tmp_path / "audit") as mesh:
            address = f"127.0.0.1:{mesh.audit.port}"
            itself = await asyncio.to_thread(healthcheck.main, [address, "--peer", "audit"])
            # A server without the audit certificate is not taken for the audit service.
            impostor = await asyncio.to_thread(healthcheck.main, [address, "--peer", "router"])
            return itself, impostor

    assert asyncio.run(scenario()) == (0, 1)
    monkeypatch.delenv("AEGIS_TLS_KEY_PEM")
    with pytest.raises(ValueError, match="go together"):
        TlsSettings().identity("audit")
