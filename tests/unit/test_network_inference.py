"""The numpy forward pass that serves the network model gives the torch model's risks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from aegis_domain.types import LoginContext, LoginEvent
from agent_services.network.context_graph import graphs_from_contexts
from agent_services.network.graphs import LoginGraphs
from agent_services.network.inference import SageInference
from agent_services.network.model import HyperParams, LoginGraphSAGE
from bench.agent_cpu import realistic_logins

# float32 sums in another order: far below any threshold a risk is compared with.
TOLERANCE = 1e-6


@pytest.fixture(scope="module")
def logins() -> list[tuple[LoginEvent, LoginContext]]:
    found = realistic_logins(users=80, seed=3, limit=64)
    assert len(found) >= 32
    return found


def torch_risks(model: LoginGraphSAGE, graphs: LoginGraphs) -> np.ndarray:
    with torch.inference_mode():
        return torch.sigmoid(model(graphs.inputs())).double().numpy()


def trained_like(params: HyperParams, seed: int) -> LoginGraphSAGE:
    """Random weights with biases away from zero, so that a bias counted twice or missed
    shows (fresh layers start with small biases)."""
    torch.manual_seed(seed)
    model = LoginGraphSAGE(params).eval()
    with torch.no_grad():
        for name, value in model.named_parameters():
            if name.endswith("bias"):
                value.uniform_(-0.5, 0.5)
    return model


@pytest.mark.parametrize("layers", [1, 2, 3])
@pytest.mark.parametrize("batch", [1, 8, 32])
def test_risks_equal_the_torch_model_on_realistic_graphs(
    logins: list[tuple[LoginEvent, LoginContext]], batch: int, layers: int
) -> None:
    model = trained_like(HyperParams(layers=layers, hidden=16), seed=batch * 10 + layers)
    inference = SageInference(model)
    for first in range(0, len(logins), batch):
        graphs = graphs_from_contexts(logins[first:first + batch])
        expected = torch_risks(model, graphs)
        assert np.abs(inference.risks(graphs) - expected).max() < TOLERANCE
        assert expected.std() > 0 or batch == 1  # the weights do tell logins apart


def test_risks_equal_the_torch_model_on_counterfactual_copies(
    logins: list[tuple[LoginEvent, LoginContext]],
) -> None:
    model = trained_like(HyperParams(), seed=5)
    inference = SageInference(model)
    graphs = graphs_from_contexts(logins[:8])
    # Every login with every subset of its key types unshared (neighbours dropped).
    copies = graphs.select(np.repeat(np.arange(8), 8), np.tile(np.arange(8), 8))
    expected = torch_risks(model, copies)
    assert np.abs(inference.risks(copies) - expected).max() < TOLERANCE
    assert len(set(expected.round(6))) > 8


def test_a_login_without_history_or_neighbours_is_scored(
    logins: list[tuple[LoginEvent, LoginContext]],
) -> None:
    model = trained_like(HyperParams(), seed=6)
    bare = LoginEvent(event_id="bare", timestamp=logins[0][0].timestamp, user_id="nobody", ip="")
    graphs = graphs_from_contexts([(bare, LoginContext()), logins[0]])
    assert np.abs(SageInference(model).risks(graphs) - torch_risks(model, graphs)).max() \
        < TOLERANCE


@pytest.mark.parametrize("layers", [1, 2])
def test_a_logins_risk_does_not_depend_on_the_batch_it_came_in(
    logins: list[tuple[LoginEvent, LoginContext]], layers: int
) -> None:
    """Agents are pure (design.md): a signal is a function of the event, its context and the
    model, so a record replays identically whether its login was scored alone or with
    others. Matrix products of another number of rows may round their last bits differently."""
    inference = SageInference(trained_like(HyperParams(layers=layers, hidden=16), seed=layers))
    together = inference.risks(graphs_from_contexts(logins))
    alone = np.concatenate([inference.risks(graphs_from_contexts([login])) for login in logins])
    pairs = np.concatenate([inference.risks(graphs_from_contexts(logins[i:i + 2]))
                            for i in range(0, len(logins), 2)])
    assert together.tolist() == alone.tolist() == pairs.tolist()
