"""Population model of the behavior agent: how common each feature value is, and in attacks."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt

from aegis_runtime.artifacts import ArtifactError, fingerprint, read_json_model

POPULATION_FILE = "population.json"

# Pseudo-count of the global distribution inside the attack distribution: a handful of
# labelled attacks from one network must not make every other network look innocent.
ATTACK_SMOOTHING = 10.0

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
        description="Value counts over labelled attack logins; optional. Without it the "
        "attacker is assumed to come from the population at large.",
    )


class Population:
    """p(value) in the population and among attackers, for each feature.

    Without a population file, p(value) is uniform over the feature's `cardinality`: every
    value is equally likely, so only the user's own history separates user from attacker.
    """

    def __init__(
        self,
        cardinalities: Mapping[str, int],
        counts: Counts | None = None,
        attack: Counts | None = None,
        version: str = "uniform",
    ) -> None:
        self.cardinalities = dict(cardinalities)
        self.counts = counts or {}
        self.attack = attack or {}
        self.version = version
        self._totals = {name: sum(table.values()) for name, table in self.counts.items()}
        self._attack_totals = {name: sum(table.values()) for name, table in self.attack.items()}

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
        return cls(cardinalities, data.features, data.attack, version)

    def global_p(self, feature: str, value: str) -> float:
        """Laplace-smoothed share of logins with this value: never zero."""
        cardinality = self.cardinalities[feature]
        table = self.counts.get(feature)
        if not table:
            return 1.0 / cardinality
        support = max(cardinality, len(table) + 1)
        return (table.get(value, 0) + 1) / (self._totals[feature] + support)

    def attack_p(self, feature: str, value: str) -> float:
        """p(value | attacker), backing off to the population where attacks are few."""
        base = self.global_p(feature, value)
        table = self.attack.get(feature)
        if not table:
            return base
        return (table.get(value, 0) + ATTACK_SMOOTHING * base) / (
            self._attack_totals[feature] + ATTACK_SMOOTHING
        )
