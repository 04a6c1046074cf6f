"""Training of the network model on labelled logins: `train_network`."""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch
import torch_geometric
from tqdm import tqdm

from aegis_domain.context_rules import ContextBounds
from aegis_lab.graph.sampler import NeighbourhoodSampler
from aegis_lab.graph.table import LabelledLogin, LoginTable
from aegis_lab.training.metrics import flagged_share, summarize
from agent_services.network.artifact import model_version as version_of
from agent_services.network.artifact import save_artifact
from agent_services.network.model import HyperParams, LoginGraphSAGE
from agent_services.network.schema import EVENT_FEATURES, KEY_FEATURES, USER_FEATURES, feature_names
from audit_service.settings import AuditSettings

log = logging.getLogger(__name__)

DEFAULT_MODEL_DIR = Path(".aegis/models/network")


@dataclass(frozen=True, slots=True)
class TrainConfig:
    """How to train. `bounds` default to the audit service's (AEGIS_AUDIT_* environment), so
    that training neighbourhoods are cut like the served ones."""

    params: HyperParams = field(default_factory=HyperParams)
    epochs: int = 3
    batch_size: int = 256
    learning_rate: float = 3e-3
    weight_decay: float = 1e-5
    # The latest logins (by time) are held out to measure the model, as later logins will be;
    # unless `holdout_users` is given: then the logins of those users are, whenever they are.
    # Held-out logins are never examples, but stay in the graph as other users' neighbours,
    # as they would be in the running system. Pass the detection trainer's split
    # (aegis_lab.training.dataset.Split.holdout) so that the combiner, fitted on its holdout
    # users, sees the network agent out of sample too.
    validation_share: float = 0.2
    holdout_users: Callable[[str], bool] | None = None
    seed: int = 0
    max_steps: int | None = None
    bounds: ContextBounds | None = None
    # The graphs are small: more intra-op threads cost more in synchronisation than they
    # save, and on a shared machine they contend (measured: 2 threads were 13x slower than
    # 1 on a busy 2-core host).
    cpu_threads: int = 1

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or self.cpu_threads < 1:
            raise ValueError("epochs, batch_size and cpu_threads must be >= 1")
        if not 0 <= self.validation_share < 1:
            raise ValueError(f"validation_share must be within [0, 1), not {self.validation_share}")


@dataclass(frozen=True, slots=True)
class TrainReport:
    """What a training run produced and measured; `model` is the trained model (CPU, eval)."""

    model: LoginGraphSAGE
    model_dir: Path
    model_version: str
    losses: list[float]
    metrics: dict[str, float]
    device: str


def training_device() -> torch.device:
    """The GPU when there is one, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def train_network(
    logins: Iterable[LabelledLogin],
    out_dir: Path = DEFAULT_MODEL_DIR,
    config: TrainConfig | None = None,
    *,
    progress: bool = True,
    device: torch.device | None = None,
) -> TrainReport:
    """Train GraphSAGE on labelled logins (read once, in any order) and write the artifact
    (model.pt + metadata.json) to `out_dir`, replacing any there.

    Every login not held out (see TrainConfig) is an example: its neighbourhood is what
    GetContext would have returned at its time, its label whether it was an attack. Raises
    ValueError when the training logins hold no attack, or no legitimate login.
    """
    config = config or TrainConfig()
    with torch_threads(config.cpu_threads):
        return _train(logins, out_dir, config, progress, device or training_device())


@contextlib.contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """torch's intra-op thread count set for a block, then restored (it is process-wide)."""
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _train(
    logins: Iterable[LabelledLogin],
    out_dir: Path,
    config: TrainConfig,
    progress: bool,
    device: torch.device,
) -> TrainReport:
    started = time.perf_counter()
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    table = LoginTable.from_logins(logins, progress=progress)
    train_events, validation_events = _split(table, config)
    attacks = table.attack[train_events]
    if attacks.all() or not attacks.any():
        raise ValueError(
            f"{len(attacks)} training logins with {int(attacks.sum())} attacks: training needs "
            "both attacks and legitimate logins"
        )
    bounds = config.bounds or AuditSettings().context_bounds()
    sampler = NeighbourhoodSampler(table, bounds)

    model = LoginGraphSAGE(config.params).to(device)
    optimiser = torch.optim.AdamW(
        model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
    )
    batches_per_epoch = math.ceil(len(train_events) / config.batch_size)
    steps = batches_per_epoch * config.epochs
    if config.max_steps is not None:
        steps = min(steps, config.max_steps)
    losses: list[float] = []
    model.train()
    with tqdm(total=steps, desc=f"training GraphSAGE on {device}", unit=" steps",
              disable=not progress) as bar:
        while len(losses) < steps:
            shuffled = rng.permutation(train_events)
            for batch in np.array_split(shuffled, batches_per_epoch):
                if len(losses) >= steps:
                    break
                inputs = sampler.sample(batch).inputs().to(device)
                targets = torch.from_numpy(table.attack[batch].astype(np.float32)).to(device)
                loss = torch.nn.functional.binary_cross_entropy_with_logits(model(inputs), targets)
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
                losses.append(float(loss.item()))
                bar.update()
                bar.set_postfix(loss=f"{losses[-1]:.4f}")

    model.eval()
    metrics = _metrics(table, train_events, validation_events, losses)
    if len(validation_events):
        probabilities = predict(
            model, sampler, validation_events, config.batch_size, device, progress
        )
        metrics |= _validation_metrics(table, validation_events, probabilities)
    metrics["training_seconds"] = round(time.perf_counter() - started, 3)
    model.cpu()
    version = version_of(model)
    save_artifact(out_dir, model, _metadata(version, config, bounds, table, metrics, device))
    log.info("network model trained", extra={"model_version": version, **metrics})
    return TrainReport(model, out_dir, version, losses, metrics, str(device))


def _split(table: LoginTable, config: TrainConfig) -> tuple[np.ndarray, np.ndarray]:
    """(training, validation) event numbers, each in time order."""
    by_time = np.argsort(table.ts, kind="stable")
    if config.holdout_users is not None:
        held_user = np.fromiter((config.holdout_users(u) for u in table.user_ids), dtype=bool,
                                count=table.users)
        held = held_user[table.user[by_time]]
        return by_time[~held], by_time[held]
    held_out = int(table.events * config.validation_share)
    return by_time[: table.events - held_out], by_time[table.events - held_out:]


def predict(
    model: LoginGraphSAGE,
    sampler: NeighbourhoodSampler,
    events: np.ndarray,
    batch_size: int,
    device: torch.device,
    progress: bool = False,
) -> np.ndarray:
    """The model's attack probability for each event, in the order given."""
    out = []
    with torch.inference_mode():
        for start in tqdm(range(0, len(events), batch_size), desc="scoring held-out logins",
                          unit=" batches", disable=not progress):
            inputs = sampler.sample(events[start: start + batch_size]).inputs().to(device)
            out.append(torch.sigmoid(model(inputs)).cpu().numpy())
    return np.concatenate(out) if out else np.zeros(0, dtype=np.float32)


def _metrics(
    table: LoginTable, train: np.ndarray, validation: np.ndarray, losses: list[float]
) -> dict[str, float]:
    tail = losses[-max(1, len(losses) // 10):]
    return {
        "training_logins": len(train),
        "training_attacks": int(table.attack[train].sum()),
        "validation_logins": len(validation),
        "validation_attacks": int(table.attack[validation].sum()),
        "steps": len(losses),
        "first_loss": losses[0],
        "final_loss": float(np.mean(tail)),
    }


def _validation_metrics(
    table: LoginTable, events: np.ndarray, probabilities: np.ndarray
) -> dict[str, float]:
    """Held-out quality as the project measures it (aegis_lab.training.metrics): ROC and PR
    AUC, ECE, recall with 0.1% and 1% of legitimate logins challenged, and that recall per
    attack type (NaN where the held-out logins have none of that type)."""
    labels = table.attack[events]
    scores = probabilities.astype(np.float64)
    summary = summarize(labels, scores)
    metrics = {f"validation_{name}": value for name, value in summary.to_json().items()}
    types = table.attack_type[events]
    for number, name in enumerate(table.attack_types[1:], 1):
        metrics[f"validation_recall_at_1pct.{name}"] = flagged_share(
            types == number, scores, summary.threshold_at_1pct
        )
    return metrics


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat()


def _metadata(
    version: str,
    config: TrainConfig,
    bounds: ContextBounds,
    table: LoginTable,
    metrics: dict[str, float],
    device: torch.device,
) -> dict[str, object]:
    return {
        "model_version": version,
        "features": feature_names(),
        "node_features": {
            "user": list(USER_FEATURES), "key": list(KEY_FEATURES), "event": list(EVENT_FEATURES),
        },
        "hyper_params": config.params.model_dump(),
        "training": {
            "epochs": config.epochs, "batch_size": config.batch_size,
            "learning_rate": config.learning_rate, "weight_decay": config.weight_decay,
            "validation": "holdout users" if config.holdout_users else
            f"latest {config.validation_share:.0%} of the logins",
            "seed": config.seed,
            "max_steps": config.max_steps, "cpu_threads": config.cpu_threads,
            "device": str(device),
        },
        "context_bounds": asdict(bounds),
        "training_window": {"first_login": _iso(float(table.ts.min())),
                            "last_login": _iso(float(table.ts.max()))},
        "data_hash": table.data_hash,
        # JSON has no NaN or infinity: an undefined metric (one class only) is null.
        "metrics": {k: v if math.isfinite(v) else None for k, v in metrics.items()},
        "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "versions": {"torch": torch.__version__, "torch_geometric": torch_geometric.__version__},
    }
