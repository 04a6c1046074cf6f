"""A generated world replayed as the running system sees it: features, truth and splits.

One pass in time order: each login's context is what GetContext would return for it (the
logins before it only, within the audit service's bounds), its features are the detection
agent's own (the same code serves), its truth stays beside it. Users, not logins, are split
between fitting and calibration, so that no user's habits are seen on both sides.
"""

from __future__ import annotations

import hashlib
import random
import zlib
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from aegis_domain.context_rules import ContextBounds
from aegis_domain.convert import event_from_proto
from aegis_domain.types import LoginContext, LoginEvent
from aegis_lab.contexts import OfflineContexts
from aegis_lab.world import ATTACK_TYPES, HARD_CASES, GeneratedLogin, WorldConfig, generate
from agent_services.attributes import feature_values
from agent_services.detection_features import FEATURE_NAMES, DetectionFeatures

ATTACKS = ("", *ATTACK_TYPES)  # code 0: legitimate
CASES = ("", *HARD_CASES)  # code 0: no hard case
_DAY_S = 86_400.0


@dataclass(frozen=True, slots=True)
class Split:
    """How the world's logins are used.

    warmup_days: logins before then build history only: every user's first logins have none,
      which a mature service would not see; except an account's very first attempt (see
      first_attempts), fitted wherever it falls.
    holdout_share: share of users whose logins calibrate instead of fit.
    combiner_legit: legitimate holdout logins kept (with their contexts) for the combiner,
      besides every attack; each stands for 1/its sampling rate.
    """

    warmup_days: float = 7.0
    holdout_share: float = 0.3
    combiner_legit: int = 15_000

    def holdout(self, user_id: str) -> bool:
        return zlib.crc32(user_id.encode()) % 1000 < self.holdout_share * 1000


def first_attempts(features: NDArray[np.float32]) -> NDArray[np.bool_]:
    """The rows of an account's first attempt (no history at all), whatever their label.

    After the warm-up they are a few late sign-ups beside every stuffing list's unknown names,
    so a model fitted there alone reads "no history" itself as an attack's. A service signs
    users up all the time: the warm-up's first attempts (every user's) are new accounts too."""
    return features[:, FEATURE_NAMES.index("attempts")] == 0


def type_balanced_weights(attack: NDArray[np.integer]) -> NDArray[np.float64]:
    """Weights under which every attack type present weighs the same in all, and the attacks
    together as much as before: a model fitted so does not learn the training world's mix
    of attacks (which the next world will not share), only what each type looks like.
    Legitimate logins (code 0) keep weight 1."""
    weights = np.ones(len(attack))
    codes, counts = np.unique(attack[attack > 0], return_counts=True)
    for code, count in zip(codes, counts, strict=True):
        weights[attack == code] = counts.sum() / (len(codes) * count)
    return weights


@dataclass(slots=True)
class Sampled:
    """A holdout login kept whole, to run agents on it later."""

    event: LoginEvent
    context: LoginContext
    attack: int
    hard_case: int
    weight: float


@dataclass(slots=True)
class WorldData:
    """The world as rows (one per login, in time order) and what was kept besides."""

    features: NDArray[np.float32]
    attack: NDArray[np.int8]
    hard_case: NDArray[np.int8]
    timestamps: NDArray[np.float64]
    holdout: NDArray[np.bool_]
    measured: NDArray[np.bool_]  # after the warm-up
    sampled: list[Sampled]
    value_counts: dict[str, Counter[str]] = field(default_factory=dict)

    @property
    def label(self) -> NDArray[np.bool_]:
        return self.attack > 0

    @property
    def fit_rows(self) -> NDArray[np.bool_]:
        return self.measured & ~self.holdout

    @property
    def calibration_rows(self) -> NDArray[np.bool_]:
        return self.measured & self.holdout

    def data_hash(self) -> str:
        """A digest of everything a model is trained on: features, truth and split."""
        digest = hashlib.sha256()
        for array in (self.features, self.attack, self.holdout, self.measured):
            digest.update(np.ascontiguousarray(array).tobytes())
        return digest.hexdigest()


def concatenate(parts: Sequence[WorldData]) -> WorldData:
    """Several replayed worlds as one training set (each world's users are its own: their
    ids come from its seed, so the split by user holds across them)."""
    value_counts: dict[str, Counter[str]] = defaultdict(Counter)
    for part in parts:
        for name, counter in part.value_counts.items():
            value_counts[name].update(counter)
    return WorldData(
        features=np.concatenate([part.features for part in parts]),
        attack=np.concatenate([part.attack for part in parts]),
        hard_case=np.concatenate([part.hard_case for part in parts]),
        timestamps=np.concatenate([part.timestamps for part in parts]),
        holdout=np.concatenate([part.holdout for part in parts]),
        measured=np.concatenate([part.measured for part in parts]),
        sampled=[sampled for part in parts for sampled in part.sampled],
        value_counts=dict(value_counts),
    )


def build(
    config: WorldConfig,
    bounds: ContextBounds,
    split: Split,
    logins: Iterable[GeneratedLogin] | None = None,
    on_login: Callable[[], object] = lambda: None,
) -> WorldData:
    """Replay the world (or `logins` of it) once, in time order."""
    n = config.events
    features = np.empty((n, len(FEATURE_NAMES)), dtype=np.float32)
    attack = np.zeros(n, dtype=np.int8)
    hard_case = np.zeros(n, dtype=np.int8)
    timestamps = np.empty(n, dtype=np.float64)
    holdout = np.zeros(n, dtype=bool)
    warm_after = config.start_ms / 1000 + split.warmup_days * _DAY_S
    # Expected legitimate holdout logins after warm-up, for the sampling rate.
    measured_share = max(0.0, 1 - split.warmup_days / config.days)
    expected = n * (1 - config.attack_share) * split.holdout_share * measured_share
    keep_rate = min(1.0, split.combiner_legit / max(expected, 1.0))
    # The seed string keeps its old name: renaming it would draw other logins.
    sampler = random.Random(f"{config.seed}/stacker-sample")
    sampled: list[Sampled] = []
    value_counts: dict[str, Counter[str]] = defaultdict(Counter)
    extractor = DetectionFeatures()
    contexts = OfflineContexts(bounds)
    rows = 0
    for row, login in enumerate(logins if logins is not None else generate(config)):
        event = event_from_proto(login.event)
        context = contexts.context(event)
        contexts.record(event)
        features[row] = extractor.vector(event, context)
        attack[row] = ATTACKS.index(login.truth.attack)
        hard_case[row] = CASES.index(login.truth.hard_case)
        timestamps[row] = event.timestamp
        holdout[row] = split.holdout(event.user_id)
        for name, value in feature_values(event).items():
            value_counts[name][value] += 1
        if holdout[row] and event.timestamp >= warm_after and (
            attack[row] or sampler.random() < keep_rate
        ):
            weight = 1.0 if attack[row] else 1 / keep_rate
            sampled.append(Sampled(event, context, int(attack[row]), int(hard_case[row]), weight))
        rows = row + 1
        on_login()
    return WorldData(
        features=features[:rows],
        attack=attack[:rows],
        hard_case=hard_case[:rows],
        timestamps=timestamps[:rows],
        holdout=holdout[:rows],
        measured=(timestamps[:rows] >= warm_after) | first_attempts(features[:rows]),
        sampled=sampled,
        value_counts=dict(value_counts),
    )
