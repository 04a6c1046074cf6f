"""Training on a tiny generated world: the loss falls, the artifact is complete and round-trips."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
import torch

from aegis_lab.graph.sampler import NeighbourhoodSampler
from aegis_lab.graph.table import LoginTable
from aegis_lab.graph.training import TrainConfig, TrainReport, train_network
from aegis_lab.world import GeneratedLogin, Truth
from aegis_runtime.artifacts import METADATA_FILE
from agent_services.network.agent import NetworkAgent
from agent_services.network.inference import SageInference
from agent_services.network.model import HyperParams
from agent_services.network.schema import feature_names
from tests.unit.graph_builders import SMALL_BOUNDS, tiny_world

BOUNDS = SMALL_BOUNDS
CONFIG = TrainConfig(
    params=HyperParams(hidden=8), epochs=10, batch_size=64, max_steps=30, bounds=BOUNDS
)


@pytest.fixture(scope="module")
def world() -> list[GeneratedLogin]:
    return tiny_world()


@pytest.fixture(scope="module")
def trained(world: list[GeneratedLogin], tmp_path_factory: pytest.TempPathFactory) -> TrainReport:
    return train_network(world, tmp_path_factory.mktemp("network"), CONFIG, progress=False)


def test_the_loss_falls(trained: TrainReport) -> None:
    assert len(trained.losses) == CONFIG.max_steps
    assert np.mean(trained.losses[-5:]) < np.mean(trained.losses[:5])


def test_the_artifact_records_what_made_the_model(
    trained: TrainReport, world: list[GeneratedLogin]
) -> None:
    metadata = json.loads((trained.model_dir / METADATA_FILE).read_text())
    assert metadata["model_version"] == trained.model_version
    assert trained.model_version.startswith("sage-")
    assert metadata["features"] == feature_names()
    assert metadata["hyper_params"] == {"hidden": 8, "layers": 2, "dropout": 0.1}
    assert metadata["context_bounds"] == asdict(BOUNDS)
    assert metadata["data_hash"] == LoginTable.from_logins(world).data_hash
    assert metadata["training_window"]["first_login"].startswith("2024-01-01")
    assert metadata["metrics"]["training_logins"] + metadata["metrics"]["validation_logins"] == len(
        world
    )
    for name in ("validation_roc_auc", "validation_ece", "validation_recall_at_1pct"):
        assert name in metadata["metrics"]


def test_the_artifact_round_trips_to_the_same_outputs(
    trained: TrainReport, world: list[GeneratedLogin]
) -> None:
    agent = NetworkAgent(trained.model_dir)
    agent.load()
    assert agent.scorer is not None
    assert agent.describe().model_version == trained.model_version
    graphs = NeighbourhoodSampler(LoginTable.from_logins(world), BOUNDS).sample(
        np.arange(len(world))
    )
    # The served weights are the trained ones: the same pass over them gives the same risks.
    assert np.array_equal(agent.scorer.inference.risks(graphs),
                          SageInference(trained.model).risks(graphs))
    with torch.inference_mode():
        trained_risks = torch.sigmoid(trained.model(graphs.inputs())).double().numpy()
    assert np.abs(agent.scorer.inference.risks(graphs) - trained_risks).max() < 1e-6


def test_the_same_seed_trains_the_same_model(
    world: list[GeneratedLogin], tmp_path: Path
) -> None:
    config = TrainConfig(params=HyperParams(hidden=8), batch_size=64, max_steps=5, bounds=BOUNDS)
    first = train_network(world, tmp_path / "a", config, progress=False)
    second = train_network(world, tmp_path / "b", config, progress=False)
    assert first.model_version == second.model_version
    assert first.losses == second.losses


def test_a_retrain_replaces_the_artifact_whole(
    world: list[GeneratedLogin], tmp_path: Path
) -> None:
    config = TrainConfig(params=HyperParams(hidden=8), batch_size=64, max_steps=2, bounds=BOUNDS)
    train_network(world, tmp_path / "network", config, progress=False)
    again = train_network(world[:300], tmp_path / "network", config, progress=False)
    metadata = json.loads((tmp_path / "network" / METADATA_FILE).read_text())
    assert metadata["model_version"] == again.model_version
    assert sorted(p.name for p in tmp_path.iterdir()) == ["network"]


def test_training_needs_attacks_and_legitimate_logins(
    world: list[GeneratedLogin], tmp_path: Path
) -> None:
    honest = [GeneratedLogin(login.event, Truth()) for login in world]
    with pytest.raises(ValueError, match="training needs both attacks and legitimate logins"):
        train_network(honest, tmp_path, CONFIG, progress=False)
    assert not any(tmp_path.iterdir())


def test_the_data_hash_covers_the_labels(world: list[GeneratedLogin]) -> None:
    relabelled = [GeneratedLogin(world[0].event, Truth(attack="fraud_ring")), *world[1:]]
    assert LoginTable.from_logins(relabelled).data_hash != LoginTable.from_logins(world).data_hash


def test_held_out_users_are_never_examples_but_measure_the_model(
    world: list[GeneratedLogin], tmp_path: Path
) -> None:
    def held(user_id: str) -> bool:
        return user_id.endswith(("1", "5"))

    config = TrainConfig(params=HyperParams(hidden=8), batch_size=64, max_steps=2,
                         bounds=BOUNDS, holdout_users=held)
    report = train_network(world, tmp_path, config, progress=False)
    held_logins = sum(held(login.event.user_id) for login in world)
    assert 0 < held_logins < len(world)
    assert report.metrics["validation_logins"] == held_logins
    assert report.metrics["training_logins"] == len(world) - held_logins
    metadata = json.loads((tmp_path / METADATA_FILE).read_text())
    assert metadata["training"]["validation"] == "holdout users"
