"""Attack recall on a labelled file, in-process: the mesh (every agent and the learned
combiner) and each agent alone, overall and per attack type, without a cluster.

`.venv/bin/python -m aegis_cli.world_recall --model-dir M --warmup-days 21 shift21.csv
shift21.truth [more.csv more.truth ...]` replays each file (RBA CSV or JSONL with its truth
file, as `aegis evaluate --world --truth` reads them) in time order with the offline context
builder, scores every login after the warm-up with the agents of --model-dir, and prints
recall at 1% and 0.1% of legitimate logins challenged (the mesh's risk: the learned combiner's
over the agents' signals, as the router's; no line for it without a combiner). Deterministic
for a file and models:
a quick, repeatable measure while changing a model. What it cannot show is the cluster's own
behaviour: the contexts record every login as allowed (so the behavior and geo agents, which
leave blocked logins out of a history, may read a little differently than in `aegis
evaluate`), and no deadline or policy applies.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from aegis_cli.labelled_file import read_labelled
from aegis_domain.convert import event_from_proto
from aegis_domain.registry import default_registry
from aegis_domain.types import LoginContext, LoginEvent
from aegis_lab.contexts import OfflineContexts
from aegis_lab.training.metrics import flagged_share, threshold_at_fpr
from aegis_lab.training.pipeline import SIGNAL_BATCH, load_agents
from audit_service.settings import AuditSettings
from router_service.combiner import combiner_path, load_combiner

MESH = "mesh"


def replayed(world: Path, truth: Path, warmup_days: float
             ) -> tuple[list[tuple[LoginEvent, LoginContext]], NDArray[np.str_]]:
    """The logins after the warm-up with their contexts, and each one's attack ("" if none)."""
    contexts = OfflineContexts(AuditSettings().context_bounds())
    measured, attacks = [], []
    warm_after = None
    for item in read_labelled(world, truth, None):
        event = event_from_proto(item.row.event)
        context = contexts.context(event)
        contexts.record(event)
        if warm_after is None:
            warm_after = event.timestamp + warmup_days * 86_400
        if event.timestamp >= warm_after:
            measured.append((event, context))
            attacks.append(item.attack)
    return measured, np.array(attacks)


def risks(model_dir: Path, logins: list[tuple[LoginEvent, LoginContext]]
          ) -> dict[str, NDArray[np.float64]]:
    """The mesh's combined risk and each agent's own, per login."""
    agents = load_agents(model_dir, default_registry(), {})
    combiner = load_combiner(combiner_path(model_dir))
    by_name: dict[str, list[float]] = {MESH: [], **{name: [] for name in agents}}
    for start in range(0, len(logins), SIGNAL_BATCH):
        batch = logins[start: start + SIGNAL_BATCH]
        signals = {name: agent.assess_batch(batch) for name, agent in agents.items()}
        for row in range(len(batch)):
            present = [signals[name][row] for name in agents if signals[name][row].present]
            if combiner is not None:
                by_name[MESH].append(combiner.risk(present))
            for signal in present:
                by_name[signal.agent].append(signal.risk)
    return {name: np.array(values) for name, values in by_name.items() if values}


def report(name: str, attacks: NDArray[np.str_], scores: NDArray[np.float64]) -> str:
    """One line: recall at 1% and 0.1% of legitimate logins challenged, then at 1% by type."""
    labels = attacks != ""
    at_1pct = threshold_at_fpr(labels, scores, 0.01)
    by_type = " ".join(
        f"{attack} {flagged_share(attacks == attack, scores, at_1pct):.2f}"
        for attack in sorted(set(attacks.tolist()) - {""})
    )
    return (f"  {name:<10} @1% {flagged_share(labels, scores, at_1pct):.3f}  @0.1% "
            f"{flagged_share(labels, scores, threshold_at_fpr(labels, scores, 0.001)):.3f}"
            f"  | {by_type}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, default=Path(".aegis/models"))
    parser.add_argument("--warmup-days", type=float, default=7.0)
    parser.add_argument("files", nargs="+", type=Path, help="WORLD TRUTH pairs")
    args = parser.parse_args()
    if len(args.files) % 2:
        parser.error("files come in pairs: a world and its truth")
    for world, truth in zip(args.files[::2], args.files[1::2], strict=True):
        logins, attacks = replayed(world, truth, args.warmup_days)
        print(f"{world}: {int((attacks != '').sum())} attacks, "
              f"{int((attacks == '').sum())} legitimate logins after the warm-up")
        for name, scores in risks(args.model_dir, logins).items():
            print(report(name, attacks, scores))


if __name__ == "__main__":
    main()
