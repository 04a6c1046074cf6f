"""The network agent with a trained model: risk from the graph, reasons naming shared keys."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest

from aegis_domain.types import LinkKind, LoginContext, LoginEvent, SignalStatus
from aegis_lab.graph.training import TrainConfig, train_network
from aegis_lab.world import GeneratedLogin
from aegis_runtime.artifacts import METADATA_FILE, ArtifactError
from agent_services.network.agent import NetworkAgent
from agent_services.network.model import HyperParams
from audit_service.settings import AuditSettings
from tests.unit.graph_builders import RING_T0, context_for, ring_world

BOUNDS = AuditSettings().context_bounds()
AFTER = RING_T0 + 8 * 86_400.0


@pytest.fixture(scope="module")
def world() -> list[GeneratedLogin]:
    return ring_world()


@pytest.fixture(scope="module")
def model_dir(world: list[GeneratedLogin], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("network")
    config = TrainConfig(params=HyperParams(hidden=16), epochs=40, batch_size=64,
                         learning_rate=1e-2, bounds=BOUNDS)
    train_network(world, out, config, progress=False)
    return out


@pytest.fixture(scope="module")
def agent(model_dir: Path) -> NetworkAgent:
    agent = NetworkAgent(model_dir)
    agent.load()
    return agent


def login(world: list[GeneratedLogin], user: str, device: str, ip: str,
          asn: int = 64501) -> tuple[LoginEvent, LoginContext]:
    event = LoginEvent(event_id=f"{user}-{device}", timestamp=AFTER, user_id=user, ip=ip,
                       device_id=device, asn=asn, login_successful=True)
    return event, context_for(world, event, BOUNDS)


@pytest.mark.parametrize(
    ("user", "device", "ip"),
    [("u-25", "ring-0", "10.66.99.1"), ("u-33", "ring-2", "10.1.33.1")],
    ids=["from-a-fresh-address", "from-the-victims-own-address"],
)
def test_a_login_on_a_ring_device_is_risky_and_the_reason_names_the_device(
    agent: NetworkAgent, world: list[GeneratedLogin], user: str, device: str, ip: str
) -> None:
    event, context = login(world, user, device, ip)
    signal = agent.assess(event, context)

    assert signal.status is SignalStatus.OK
    assert signal.risk > 0.5
    assert signal.model_version == agent.describe().model_version
    top = signal.reasons[0]
    assert top.code == "SHARED_DEVICE"
    assert context.device_users > 10
    assert top.message.startswith(
        f"device {device} used by {context.device_users} other users, 0 flagged"
    )
    assert 0 < top.weight <= signal.risk + 1e-9


def test_the_reason_names_the_flagged_neighbours_without_changing_the_risk(
    agent: NetworkAgent, world: list[GeneratedLogin]
) -> None:
    event, context = login(world, "u-25", "ring-0", "10.66.99.1")
    marked = [n for n in context.neighbors if n.link is LinkKind.DEVICE][:2]
    flagged = [
        dataclasses.replace(n, flagged=2, max_risk=0.9) if n in marked else n
        for n in context.neighbors
    ]
    signal = agent.assess(event, dataclasses.replace(context, neighbors=flagged))

    # Past decisions are for people to read; the model never learnt from them.
    assert signal.risk == agent.assess(event, context).risk
    message = signal.reasons[0].message
    assert f"used by {context.device_users} other users, 2 flagged" in message
    named = ", ".join(
        f"user {n.user_id} (2 flagged, {n.failures} of {n.logins} logins failed)"
        for n in sorted(marked, key=lambda n: n.user_id)
    )
    assert message.endswith(f"; riskiest: {named}")


def test_an_honest_login_is_not_risky_and_has_no_shared_key_reason(
    agent: NetworkAgent, world: list[GeneratedLogin]
) -> None:
    for device in ("d-3", "a-brand-new-phone"):
        signal = agent.assess(*login(world, "u-3", device, "10.1.3.1", asn=64503))
        assert signal.status is SignalStatus.OK
        assert signal.risk < 0.5
        assert not [r for r in signal.reasons if r.code == "SHARED_DEVICE"]


def test_a_batch_gives_each_login_the_signal_it_gets_alone(
    agent: NetworkAgent, world: list[GeneratedLogin]
) -> None:
    requests = [
        login(world, "u-25", "ring-0", "10.66.99.1"),
        login(world, "u-3", "d-3", "10.1.3.1"),
        (LoginEvent(event_id="bare", timestamp=AFTER, user_id="nobody", ip=""), LoginContext()),
        login(world, "u-33", "ring-2", "10.1.33.1"),
    ]
    batch = agent.assess_batch(requests)
    alone = [agent.assess(event, context) for event, context in requests]
    assert [s.risk for s in batch] == pytest.approx([s.risk for s in alone], abs=1e-6)
    assert [[r.code for r in s.reasons] for s in batch] == [[r.code for r in s.reasons]
                                                            for s in alone]
    assert [s.confidence for s in batch] == [s.confidence for s in alone]


def test_confidence_grows_with_the_evidence_in_the_graph(
    agent: NetworkAgent, world: list[GeneratedLogin]
) -> None:
    stranger = agent.assess(
        LoginEvent(event_id="s", timestamp=AFTER, user_id="nobody", ip="192.0.2.1"),
        LoginContext(),
    )
    regular = agent.assess(*login(world, "u-3", "d-3", "10.1.3.1"))
    assert 0 < stranger.confidence < regular.confidence <= 1


def test_without_a_model_every_login_of_a_batch_is_no_model(tmp_path: Path) -> None:
    agent = NetworkAgent(tmp_path / "absent")
    agent.load()
    event = LoginEvent(event_id="e", timestamp=AFTER, user_id="u", ip="192.0.2.1")
    signals = agent.assess_batch([(event, LoginContext())] * 2)
    assert [s.status for s in signals] == [SignalStatus.NO_MODEL] * 2
    assert "make train" in signals[0].detail
    assert not agent.describe().ready


def edited_copy(model_dir: Path, tmp_path: Path, **changes: object) -> Path:
    copy = tmp_path / "edited"
    shutil.copytree(model_dir, copy)
    metadata = json.loads((copy / METADATA_FILE).read_text())
    (copy / METADATA_FILE).write_text(json.dumps(metadata | changes))
    return copy


def test_a_model_of_other_features_is_refused(model_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="retrain the network model"):
        NetworkAgent(edited_copy(model_dir, tmp_path, features=["a", "b"])).load()


def test_weights_that_do_not_fit_the_recorded_architecture_are_refused(
    model_dir: Path, tmp_path: Path
) -> None:
    wider = {"hidden": 32, "layers": 2, "dropout": 0.1}
    with pytest.raises(ArtifactError, match="does not fit the architecture"):
        NetworkAgent(edited_copy(model_dir, tmp_path, hyper_params=wider)).load()


def test_metadata_without_the_architecture_is_refused(model_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="hyper_params"):
        NetworkAgent(edited_copy(model_dir, tmp_path, hyper_params=None)).load()


def test_a_loaded_agent_runs_blas_on_one_thread(agent: NetworkAgent) -> None:
    # numpy's BLAS would otherwise spread a batch's products over every core and spin there.
    import threadpoolctl

    # numpy's own (scipy, imported later by other code, brings its own copy).
    pools = [p for p in threadpoolctl.threadpool_info()
             if p["user_api"] == "blas" and "numpy" in p["filepath"]]
    assert pools
    assert all(p["num_threads"] == agent.settings.torch_threads == 1 for p in pools)
