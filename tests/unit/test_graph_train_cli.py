"""`python -m aegis_cli.train_network`: a world in, an artifact out, a summary on stdout."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aegis_cli.train_network import main
from aegis_runtime.artifacts import METADATA_FILE


def test_trains_a_small_world_into_the_folder_given(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(["--events", "1500", "--max-steps", "3", "--hidden", "8", "--quiet",
                   "--out", str(tmp_path / "network")])

    assert status == 0
    metadata = json.loads((tmp_path / "network" / METADATA_FILE).read_text())
    out = capsys.readouterr().out
    assert f"network model {metadata['model_version']} -> {tmp_path / 'network'}" in out
    assert "held out" in out
    assert metadata["training"]["validation"] == "holdout users"
    assert metadata["hyper_params"]["hidden"] == 8


def test_small_trains_a_smaller_world_for_fewer_epochs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--small", "--max-steps", "2", "--hidden", "8", "--quiet",
                 "--out", str(tmp_path / "network")]) == 0

    metadata = json.loads((tmp_path / "network" / METADATA_FILE).read_text())
    assert metadata["training"]["epochs"] == 2
    logins = metadata["metrics"]["training_logins"] + metadata["metrics"]["validation_logins"]
    assert logins == 6000


def test_a_world_without_attacks_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(["--events", "500", "--attack-share", "0", "--quiet",
                   "--out", str(tmp_path / "network")])

    assert status == 1
    assert "training needs both attacks and legitimate logins" in capsys.readouterr().err
    assert not (tmp_path / "network").exists()
