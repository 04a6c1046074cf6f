"""The behavior agent's population model from a replayed world: how common each value is."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from aegis_lab.training.dataset import WorldData
from aegis_lab.training.publish import json_bytes, publish
from agent_services.behavior_population import POPULATION_FILE, PopulationFile


def save(model_dir: Path, data: WorldData) -> str:
    """Publish population.json (value counts over every login, whatever its label); returns
    its version."""
    version = f"population-{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{data.data_hash()[:8]}"
    document = PopulationFile(
        model_version=version,
        features={name: dict(counts) for name, counts in data.value_counts.items()},
    )
    publish(model_dir, {POPULATION_FILE: json_bytes(document.model_dump())})
    return version
