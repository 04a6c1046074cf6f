"""Attack recall on a labelled file, in-process: the mesh (every agent and the learned
combiner) and each agent alone, overall and per attack type, and what the policy does with
the mesh's decisions, without a cluster.

`.venv/bin/python -m aegis_cli.world_recall --model-dir M --warmup-days 21 shift21.csv
shift21.truth [more.csv more.truth ...]` replays each file (RBA CSV or JSONL with its truth
file, as `aegis evaluate --world --truth` reads them) in time order with the offline context
builder, scores every login after the warm-up with the agents of --model-dir, and prints
recall at 1% and 0.1% of legitimate logins challenged (the mesh's risk: the router's
combination of the agents' signals), then the policy's line: the legitimate logins it does not
allow, overall and in each hard case, and the share of attacks it stops (the default policy,
or --policy, at the thresholds its budget gives on the combiner's calibration world: what the
router applies until it has seen enough live traffic to estimate them). Deterministic for a
file and models: a quick, repeatable measure while changing a model or a policy.
`--look-alikes` adds, over every file, the legitimate logins the policy refused grouped by
their facts, beside the attacks with the same facts (aegis_lab.evaluation.look_alikes): which
refusals a model could undo, and which it could undo only by letting those attacks in. What it
cannot show is the cluster's own behaviour: the contexts record every login as allowed (so
the behavior and geo agents, which leave blocked logins out of a history, may read a little
differently than in `aegis evaluate`), no deadline applies, and the thresholds stay the
calibration world's. On thirteen shifted-family worlds (models of `aegis train --events
45000`) its policy line gave the counts `aegis evaluate` measured through the cluster, login
for login; on the old family, whose contexts hold refused logins, a login or two apart.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from aegis_cli.labelled_file import read_labelled
from aegis_domain.convert import event_from_proto
from aegis_lab.evaluation.in_process import Replayed, detection_vectors, read_policy, scored
from aegis_lab.evaluation.look_alikes import look_alikes, render
from aegis_lab.training.metrics import flagged_share, threshold_at_fpr
from router_service.settings import DEFAULT_POLICY


def replayed(world: Path, truth: Path, warmup_days: float) -> Replayed:
    """A labelled file's logins after the warm-up (counted from its first login), in time
    order, with their contexts."""
    labelled = [(event_from_proto(item.row.event), item.attack, item.hard_case)
                for item in read_labelled(world, truth, None)]
    since = labelled[0][0].timestamp + warmup_days * 86_400 if labelled else 0.0
    return Replayed.of(labelled, since)


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


def policy_report(attacks: NDArray[np.str_], hard_cases: NDArray[np.str_],
                  allowed: NDArray[np.bool_]) -> str:
    """One line: the legitimate logins the policy did not allow, overall and per hard case
    (counts: a hard case holds tens of logins, where one is several points), and the share
    of attacks it stopped."""
    legitimate = attacks == ""
    refused = legitimate & ~allowed
    by_case = " ".join(
        f"{case} {int((refused & (hard_cases == case)).sum())}/"
        f"{int((legitimate & (hard_cases == case)).sum())}"
        for case in sorted(set(hard_cases[legitimate].tolist()) - {""})
    )
    stopped = float((~allowed[~legitimate]).mean()) if (~legitimate).any() else float("nan")
    share = refused.sum() / max(legitimate.sum(), 1)
    return (f"  {'policy':<10} legitimate not allowed {share:.2%}"
            f" ({int(refused.sum())} of {int(legitimate.sum())})  attacks stopped {stopped:.3f}"
            f"  | {by_case}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, default=Path(".aegis/models"))
    parser.add_argument("--warmup-days", type=float, default=7.0)
    parser.add_argument("--policy", type=Path, default=DEFAULT_POLICY,
                        help="the decision policy (YAML) whose actions are counted "
                        "(default: the router's)")
    parser.add_argument("--look-alikes", action="store_true",
                        help="after the files: the legitimate logins the policy refused, "
                        "grouped by their facts, beside the attacks with the same facts")
    parser.add_argument("files", nargs="+", type=Path, help="WORLD TRUTH pairs")
    args = parser.parse_args()
    if len(args.files) % 2:
        parser.error("files come in pairs: a world and its truth")
    try:
        policy = read_policy(args.policy)
    except ValueError as exc:  # PolicyError: named before minutes of replay, not after
        parser.error(str(exc))
    vectors: list[list[float]] = []
    attacks_seen: list[str] = []
    cases_seen: list[str] = []
    allowed_seen: list[bool] = []
    for world, truth in zip(args.files[::2], args.files[1::2], strict=True):
        replay = replayed(world, truth, args.warmup_days)
        attacks = replay.attacks
        print(f"{world}: {int((attacks != '').sum())} attacks, "
              f"{int((attacks == '').sum())} legitimate logins after the warm-up")
        result = scored(args.model_dir, policy, replay.logins)
        for name, scores in result.risks.items():
            print(report(name, attacks, scores))
        print(policy_report(attacks, replay.hard_cases, result.allowed))
        if args.look_alikes:
            vectors += detection_vectors(replay.logins)
            attacks_seen += attacks.tolist()
            cases_seen += replay.hard_cases.tolist()
            allowed_seen += result.allowed.tolist()
    if args.look_alikes:
        print("refused legitimate logins and the attacks with the same facts, over every file:")
        print("\n".join(render(look_alikes(vectors, attacks_seen, cases_seen, allowed_seen))))


if __name__ == "__main__":
    main()
