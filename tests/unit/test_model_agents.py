"""Agents with trained models: NO_MODEL without an artifact, refusal to start with a bad one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aegis_domain.registry import default_registry
from aegis_domain.types import LoginContext, LoginEvent, SignalStatus
from aegis_runtime.artifacts import METADATA_FILE, ArtifactError
from agent_services.base import build_agent
from agent_services.detection import DetectionAgent
from agent_services.network.agent import NetworkAgent
from agent_services.trained import TrainedModelAgent

AGENTS = [DetectionAgent, NetworkAgent]
EVENT = LoginEvent(event_id="ev-1", timestamp=1_780_000_000.0, user_id="alice", ip="10.0.0.1")


def write_metadata(model_dir: Path, **fields: object) -> None:
    model_dir.mkdir(parents=True, exist_ok=True)
    document = {"model_version": "test-1", "features": ["a", "b", "c"], **fields}
    (model_dir / METADATA_FILE).write_text(json.dumps(document))


def loaded(agent_type: type[TrainedModelAgent], model_dir: Path) -> TrainedModelAgent:
    agent = agent_type(model_dir)
    agent.load()
    return agent


@pytest.mark.parametrize("agent_type", AGENTS)
def test_without_artifact_the_agent_serves_no_model(
    tmp_path: Path, agent_type: type[TrainedModelAgent]
) -> None:
    agent = loaded(agent_type, tmp_path / "absent")

    signal = agent.assess(EVENT, LoginContext())
    assert signal.status is SignalStatus.NO_MODEL
    assert not signal.present
    assert str(tmp_path / "absent" / agent.model_file) in signal.detail
    assert "make train" in signal.detail
    description = agent.describe()
    assert not description.ready
    assert description.name == agent.name
    assert "no trained model" in description.description


@pytest.mark.parametrize("agent_type", AGENTS)
def test_a_corrupt_model_file_refuses_to_load(
    tmp_path: Path, agent_type: type[TrainedModelAgent]
) -> None:
    write_metadata(tmp_path)
    (tmp_path / agent_type.model_file).write_bytes(b"\x00garbage, not a model{")

    with pytest.raises(ArtifactError, match="cannot load") as raised:
        loaded(agent_type, tmp_path)
    assert str(tmp_path / agent_type.model_file) in str(raised.value)


@pytest.mark.parametrize("agent_type", AGENTS)
@pytest.mark.parametrize(
    ("metadata", "expected"),
    [
        ("{broken", "cannot read"),
        (json.dumps({"features": ["a"]}), "model_version"),
    ],
)
def test_unreadable_metadata_refuses_to_load(
    tmp_path: Path, agent_type: type[TrainedModelAgent], metadata: str, expected: str
) -> None:
    (tmp_path / METADATA_FILE).write_text(metadata)
    (tmp_path / agent_type.model_file).write_bytes(b"whatever")

    with pytest.raises(ArtifactError, match=expected) as raised:
        loaded(agent_type, tmp_path)
    assert str(tmp_path / METADATA_FILE) in str(raised.value)


@pytest.mark.parametrize("agent_type", AGENTS)
def test_half_an_artifact_refuses_to_load(
    tmp_path: Path, agent_type: type[TrainedModelAgent]
) -> None:
    only_model = tmp_path / "only-model"
    only_model.mkdir()
    (only_model / agent_type.model_file).write_bytes(b"whatever")
    only_metadata = tmp_path / "only-metadata"
    write_metadata(only_metadata)

    for model_dir in (only_model, only_metadata):
        with pytest.raises(ArtifactError, match="incomplete model artifact"):
            loaded(agent_type, model_dir)


def train_tiny_booster(path: Path, features: int) -> None:
    xgboost = pytest.importorskip("xgboost")
    np = pytest.importorskip("numpy")
    rows = np.arange(8 * features, dtype=float).reshape(8, features)
    labels = np.array([0, 1] * 4)
    booster = xgboost.train(
        {"objective": "binary:logistic", "max_depth": 1},
        xgboost.DMatrix(rows, label=labels),
        num_boost_round=1,
    )
    booster.save_model(str(path))


def test_detection_refuses_a_model_trained_on_other_features_than_it_computes(
    tmp_path: Path,
) -> None:
    train_tiny_booster(tmp_path / "model.json", features=3)
    calibration = {"knots": [0.0], "probabilities": [0.5], "support": [1.0]}
    write_metadata(tmp_path, calibration=calibration)

    with pytest.raises(ArtifactError, match="trained on other features than this code computes"):
        loaded(DetectionAgent, tmp_path)


def test_detection_refuses_metadata_without_its_calibration(tmp_path: Path) -> None:
    train_tiny_booster(tmp_path / "model.json", features=3)
    write_metadata(tmp_path)

    with pytest.raises(ArtifactError, match="calibration"):
        loaded(DetectionAgent, tmp_path)


def test_detection_rejects_a_model_whose_features_disagree_with_its_metadata(
    tmp_path: Path,
) -> None:
    train_tiny_booster(tmp_path / "model.json", features=5)
    write_metadata(tmp_path)

    with pytest.raises(ArtifactError, match="takes 5 features but its metadata lists 3"):
        loaded(DetectionAgent, tmp_path)


def test_network_rejects_anything_but_a_state_dict_of_its_own_model(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    foreign, bad = tmp_path / "foreign", tmp_path / "bad"
    for model_dir in (foreign, bad):
        write_metadata(model_dir)
    torch.save(torch.nn.Linear(3, 1).state_dict(), foreign / "model.pt")
    torch.save([1, 2, 3], bad / "model.pt")

    # A state_dict is not enough: the metadata must describe the GNN it belongs to
    # (tests/unit/test_network_agent.py loads a trained one).
    with pytest.raises(ArtifactError, match="hyper_params"):
        loaded(NetworkAgent, foreign)
    with pytest.raises(ArtifactError, match="is not a state_dict"):
        loaded(NetworkAgent, bad)


def test_every_registered_agent_is_built_under_its_registry_name(tmp_path: Path) -> None:
    for entry in default_registry().agents:
        agent = build_agent(entry, tmp_path / entry.name)
        agent.load()
        assert agent.name == entry.name
        assert agent.describe().name == entry.name
