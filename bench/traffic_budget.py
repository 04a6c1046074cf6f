"""The policy's challenge threshold under shift: the calibration world's against those of
recent traffic (router_service.traffic_budget) at each guard factor, on a shifted world.

`.venv/bin/python -m bench.traffic_budget [--users 1200] [--seed 11] [--max-shift 1.5,2,4,8]`
generates a shifted world (aegis_lab.shifted), gives every login of its last three history
days and its evaluation window the combined risk the router would (the agents in-process,
with the models of --model-dir, and the learned combiner), feeds the successful ones (as the
router does) in time order to a TrafficBudget with the router's default window, and prints,
for the evaluation window, the share of legitimate logins at or above the challenge
threshold then in force and the share of attacks (recall). A last row feeds only the
legitimate logins to the window: what a window free of attacks would do. Deterministic for a
seed and models; no cluster, no timing.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from aegis_domain.convert import event_from_proto
from aegis_lab.evaluation.in_process import MESH, Replayed, scored
from aegis_lab.shifted.config import ShiftedConfig
from aegis_lab.shifted.world import generate
from router_service.combiner import combiner_path, load_combiner
from router_service.policy import Policy, load_policy
from router_service.settings import DEFAULT_POLICY, RouterSettings
from router_service.traffic_budget import TrafficBudget

_DAY_S = 86_400
# History days before the evaluation window whose logins are live traffic too.
FED_HISTORY_DAYS = 3


def risks_of(config: ShiftedConfig, model_dir: Path, policy: Policy
             ) -> tuple[NDArray[np.float64], NDArray[np.bool_], NDArray[np.bool_],
                        NDArray[np.bool_]]:
    """Combined risk, attack or not, in the evaluation window or not, and successful or not,
    of every login fed."""
    eval_start = config.eval_start_ms / 1000
    fed_from = eval_start - FED_HISTORY_DAYS * _DAY_S
    labelled = ((event_from_proto(login.event), login.truth.attack, "")
                for login in generate(config))
    # Every login gets its context; those before fed_from are history only.
    replay = Replayed.of(labelled, since=fed_from)
    events = [event for event, _ in replay.logins]
    risks = scored(model_dir, policy, replay.logins).risks[MESH]
    return (risks, replay.attacks != "",
            np.array([event.timestamp >= eval_start for event in events]),
            np.array([event.login_successful for event in events]))


def thresholds_in_force(risks: NDArray[np.float64], observed: NDArray[np.bool_],
                        make: Callable[[], TrafficBudget]) -> NDArray[np.float64]:
    """The challenge threshold each login met, the window fed the `observed` ones."""
    budget = make()
    at = np.empty(len(risks))
    for i, risk in enumerate(risks):
        at[i] = budget.current.challenge
        if observed[i]:
            budget.observe(float(risk))
    return at


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=1200)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--max-shift", default="1.5,2,4,8",
                        help="guard factors to compare, comma-separated")
    parser.add_argument("--model-dir", type=Path, default=Path(".aegis/models"))
    args = parser.parse_args()
    combiner = load_combiner(combiner_path(args.model_dir))
    if combiner is None:
        parser.error(f"no combiner under {args.model_dir}: run make models")
    policy: Policy = load_policy(DEFAULT_POLICY).within(combiner)
    settings = RouterSettings()
    risks, attack, evaluated, successful = risks_of(ShiftedConfig(users=args.users, seed=args.seed),
                                        args.model_dir, policy)

    def budget(max_shift: float) -> Callable[[], TrafficBudget]:
        return lambda: TrafficBudget(policy, combiner, settings.budget_window,
                                     settings.budget_min_decisions, max_shift)

    shifts = [float(x) for x in args.max_shift.split(",")]
    rows = [("calibration world", np.full(len(risks), policy.thresholds.challenge))]
    rows += [(f"recent traffic, max shift {m:g}", thresholds_in_force(risks, successful, budget(m)))
             for m in shifts]
    rows += [(f"legitimate-only window, max shift {shifts[-1]:g}",
              thresholds_in_force(risks, ~attack, budget(shifts[-1])))]
    legit, bad = evaluated & ~attack, evaluated & attack
    print(f"shifted world, {args.users} users, seed {args.seed}: {legit.sum()} legitimate and "
          f"{bad.sum()} attack logins evaluated ({len(risks)} fed); budget "
          f"{policy.spec.budget.challenge if policy.spec.budget else '-'} challenged")
    for name, at in rows:
        flagged = risks >= at
        print(f"  {name:42s} threshold {np.median(at[evaluated]):.3f} (median)  legitimate "
              f"challenged {flagged[legit].mean():.2%}  attack recall {flagged[bad].mean():.3f}")


if __name__ == "__main__":
    main()
