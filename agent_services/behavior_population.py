"""Population model of the behavior agent: how common each feature value is among all logins."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt

from aegis_runtime.artifacts import ArtifactError, fingerprint, read_json_model

POPULATION_FILE = "population.json"

Counts = dict[str, dict[str, NonNegativeInt]]


class PopulationFile(BaseModel):
    """population.json: per feature, how many logins had each value.

    Keys are the values `attributes.feature_values` produces, e.g. {"asn": {"3320": 5120}}.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    model_version: str = Field(min_length=1, description="Recorded in every signal.")
    features: Counts = Field(description="Value counts over all logins of the population.")
    attack: Counts = Field(
        default_factory=dict,
        description="Not read: value counts over labelled attacks, which trainers wrote before "
        "the agent stopped using labels (the attackers of one world are not another's); "
        "accepted so that such files still load.",
    )


class Population:
    """p(value) in the population, for each feature.

    Without a population file, p(value) is uniform over the feature's `cardinality`: every
    value is equally likely, so only the user's own history separates user from attacker.
    """

    def __init__(
        self,
        cardinalities: Mapping[str, int],
        counts: Counts | None = None,
        version: str = "uniform",
    ) -> None:
        self.cardinalities = dict(cardinalities)
        self.counts = counts or {}
        self.version = version
        self._totals = {name: sum(table.values()) for name, table in self.counts.items()}

    @classmethod
    def load(cls, path: Path, cardinalities: Mapping[str, int]) -> Population:
        """Read population.json; ArtifactError when unreadable or about unknown features."""
        data = read_json_model(path, PopulationFile)
        unknown = sorted((set(data.features) | set(data.attack)) - set(cardinalities))
        if unknown:
            raise ArtifactError(
                f"{path}: unknown features {', '.join(unknown)} "
                f"(known: {', '.join(sorted(cardinalities))})"
            )
        version = f"{data.model_version}.{fingerprint(path.read_bytes())}"
        return cls(cardinalities, data.features, version)

    def global_p(self, feature: str, value: str) -> float:
        """Laplace-smoothed share of logins with this value: never zero."""
        cardinality = self.cardinalities[feature]
        table = self.counts.get(feature)
        if not table:
            return 1.0 / cardinality
        support = max(cardinality, len(table) + 1)
        return (table.get(value, 0) + 1) / (self._totals[feature] + support)
