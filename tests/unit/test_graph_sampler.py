"""The training sampler builds exactly the graphs that serving builds from GetContext."""

from __future__ import annotations

import numpy as np
import pytest

from aegis_domain.convert import event_from_proto
from aegis_lab.contexts import offline_contexts
from aegis_lab.graph.sampler import NeighbourhoodSampler
from aegis_lab.graph.table import LoginTable
from aegis_lab.world import GeneratedLogin
from agent_services.network.context_graph import graphs_from_contexts
from tests.unit.graph_builders import (
    SMALL_BOUNDS,
    assert_same_graphs,
    brute_force_contexts,
    tiny_world,
)

BOUNDS = SMALL_BOUNDS


@pytest.fixture(scope="module")
def world() -> list[GeneratedLogin]:
    return tiny_world()


def test_the_world_reaches_every_bound(world: list[GeneratedLogin]) -> None:
    contexts = [context for _, context in brute_force_contexts(world, BOUNDS)]
    assert any(c.history_truncated for c in contexts)
    assert max(c.ip_users for c in contexts) > BOUNDS.neighbor_limit
    assert max(c.device_users for c in contexts) > BOUNDS.neighbor_limit
    assert max(c.asn_users for c in contexts) > BOUNDS.neighbor_limit
    # The scan bound cuts too: some ASN has more logins in a window than a scan reads.
    times: dict[int, list[float]] = {}
    for login in world:
        times.setdefault(login.event.asn, []).append(login.event.timestamp.ToMilliseconds() / 1e3)
    busiest = max(
        sum(t - BOUNDS.neighbor_window_s <= other < t for other in ts)
        for ts in times.values() for t in ts
    )
    assert busiest > BOUNDS.scan_limit


def test_sampler_matches_brute_force_contexts(world: list[GeneratedLogin]) -> None:
    sampler = NeighbourhoodSampler(LoginTable.from_logins(world), BOUNDS)
    every = np.arange(len(world))

    assert_same_graphs(sampler.sample(every), graphs_from_contexts(
        brute_force_contexts(world, BOUNDS)
    ))


def test_sampler_matches_any_batch_in_any_order(world: list[GeneratedLogin]) -> None:
    sampler = NeighbourhoodSampler(LoginTable.from_logins(reversed(world)), BOUNDS)
    chosen = np.random.default_rng(5).choice(len(world), size=50, replace=False)
    # The table read the world backwards: event number e is world[len - 1 - e].
    contexts = brute_force_contexts(world, BOUNDS)

    assert_same_graphs(
        sampler.sample(chosen),
        graphs_from_contexts([contexts[len(world) - 1 - e] for e in chosen]),
    )


def test_sampler_matches_the_replayed_contexts_the_detection_trainer_uses(
    world: list[GeneratedLogin],
) -> None:
    sampler = NeighbourhoodSampler(LoginTable.from_logins(world), BOUNDS)
    replayed = offline_contexts((event_from_proto(login.event) for login in world), BOUNDS)

    assert_same_graphs(sampler.sample(np.arange(len(world))), graphs_from_contexts(list(replayed)))
