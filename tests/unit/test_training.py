"""`aegis train` end to end on a tiny world: every artifact published, versioned, loadable."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from aegis_cli.main import main
from aegis_lab.training import detection
from aegis_lab.training.dataset import Split, build, type_balanced_weights
from aegis_lab.world import WorldConfig
from agent_services.behavior import BehaviorAgent
from agent_services.detection import DetectionAgent
from agent_services.detection_features import FEATURE_NAMES
from audit_service.settings import AuditSettings
from router_service.combiner import load_combiner

pytest.importorskip("xgboost")

TINY = ["train", "--events", "3000", "--users", "80", "--days", "10", "--warmup-days", "2",
        "--rounds", "5", "--attack-share", "0.08", "--combiner-events", "1500",
        "--shifted-users", "30", "--no-progress",
        "--json"]


def test_train_publishes_versioned_artifacts_the_services_load(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    models = tmp_path / "models"
    assert main([*TINY, "--model-dir", str(models)]) == 0
    report = json.loads(capsys.readouterr().out)

    metadata = json.loads((models / "detection" / "metadata.json").read_text())
    assert metadata["features"] == list(FEATURE_NAMES)
    assert metadata["model_version"] == report["versions"]["detection"]
    assert metadata["training_window"]["start"] < metadata["training_window"]["end"]
    assert len(metadata["data_hash"]) == 64
    assert metadata["world"]["seed"] == 7 and metadata["world"]["events"] == 3000
    combiner_world = metadata["world"]["combiner_world"]
    assert combiner_world["seed"] != 7 and combiner_world["events"] == 1500
    assert combiner_world["start"] == "2024-01-11T00:00:00+00:00"  # when training's ends
    assert set(combiner_world["attack_mix"].values()) == {1.0}
    assert metadata["world"]["shifted_combiner_world"]["seed"] == 3007
    # The logins shared among three training worlds of their own seeds (and habits).
    worlds = metadata["world"]["training_worlds"]
    assert [w["seed"] for w in worlds] == [7, 107, 207]
    assert [w["events"] for w in worlds] == [1000] * 3
    assert len({json.dumps(w["knobs"], sort_keys=True) for w in worlds}) == 3
    assert 0 <= metadata["metrics"]["recall_at_1pct"] <= 1
    assert set(metadata["metrics"]["recall_at_1pct_by_attack"]) <= {
        "credential_stuffing", "password_spray", "targeted_takeover", "session_hijack",
        "fraud_ring", "low_and_slow"}

    detection = DetectionAgent(models / "detection")
    detection.load()
    assert detection.describe().ready
    # The risk and the main features of the training window, kept for drift.
    reference = metadata["drift_reference"]
    assert reference["edges"].keys() == reference["shares"].keys()
    assert "risk" in reference["shares"] and len(reference["shares"]) == 6
    assert all(abs(sum(shares) - 1) < 1e-9 for shares in reference["shares"].values())
    assert detection.scorer is not None and detection.scorer.drift is not None
    assert detection.drift() == {}  # no login seen yet
    behavior = BehaviorAgent(models / "behavior")
    behavior.load()
    assert behavior.population.version.startswith(report["versions"]["behavior"])
    combiner = load_combiner(models / "router" / "combiner.json")
    assert combiner is not None
    assert {"detection", "behavior", "geo"} <= set(combiner.spec.agents)


def test_the_same_world_gives_the_same_data_hash_and_if_missing_keeps_the_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    for models in (first, second):
        assert main([*TINY, "--model-dir", str(models)]) == 0
    hashes = [json.loads((m / "detection" / "metadata.json").read_text())["data_hash"]
              for m in (first, second)]
    assert hashes[0] == hashes[1]

    before = (first / "detection" / "model.json").read_bytes()
    assert main([*TINY, "--model-dir", str(first), "--if-missing", "--seed", "99"]) == 0
    assert (first / "detection" / "model.json").read_bytes() == before
    assert "not training" in capsys.readouterr().err

    # A model of other features (a checkout that pulled new ones) counts as missing.
    metadata_path = first / "detection" / "metadata.json"
    metadata = json.loads(metadata_path.read_text())
    metadata_path.write_text(json.dumps({**metadata, "features": ["retired_feature"]}))
    assert main([*TINY, "--model-dir", str(first), "--if-missing", "--seed", "99"]) == 0
    assert "not training" not in capsys.readouterr().err
    assert (first / "detection" / "model.json").read_bytes() != before


def test_type_balanced_weights_weigh_every_attack_type_alike() -> None:
    attack = np.array([0, 0, 0, 1, 1, 1, 1, 2, 3, 3])
    weights = type_balanced_weights(attack)
    assert weights[attack == 0].tolist() == [1.0, 1.0, 1.0]
    per_type = [weights[attack == code].sum() for code in (1, 2, 3)]
    assert per_type == pytest.approx([7 / 3] * 3)
    assert weights[attack > 0].sum() == pytest.approx(7)
    assert type_balanced_weights(np.zeros(4, dtype=int)).tolist() == [1.0] * 4


def test_an_accounts_first_attempt_is_fitted_even_in_the_warm_up() -> None:
    """Every user's first login falls in the warm-up: fitted only after it, a model sees a
    few sign-ups beside every stuffing list's unknown names and reads "no history" as an
    attack. Whatever its label, a first attempt is fitted wherever it falls; the rest of the
    warm-up only builds history."""
    config = WorldConfig(users=60, events=1_500, seed=3, days=10, attack_share=0.05)
    data = build(config, AuditSettings().context_bounds(), Split(warmup_days=3))
    first = data.features[:, FEATURE_NAMES.index("attempts")] == 0
    warm_up = data.timestamps < config.start.timestamp() + 3 * 86_400
    assert (warm_up & first).sum() >= 30
    assert data.measured[warm_up].tolist() == first[warm_up].tolist()
    assert data.measured[~warm_up].all()


@pytest.mark.parametrize("parallel_trees", [1, 3])
def test_each_round_fits_the_parallel_trees_the_params_ask_for(parallel_trees: int) -> None:
    """A boosted forest: `parallel_trees` trees a round, each on its own sample, which keeps the
    published model from depending on the boosting seed's draw."""
    config = WorldConfig(users=60, events=1_500, seed=3, days=10, attack_share=0.1)
    data = build(config, AuditSettings().context_bounds(),
                 Split(warmup_days=0, holdout_share=0.5, combiner_legit=0))
    params = detection.DetectionParams(rounds=4, parallel_trees=parallel_trees, threads=1)
    trained = detection.train(data, params, seed=1)
    assert len(trained.booster.get_dump()) == 4 * parallel_trees
