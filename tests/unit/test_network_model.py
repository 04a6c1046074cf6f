"""The network model's own message passing equals PyG's HeteroConv, bit for bit."""

from __future__ import annotations

import pytest
import torch

from aegis_domain.types import LoginContext, LoginEvent
from agent_services.network.context_graph import graphs_from_contexts
from agent_services.network.graphs import GraphInputs
from agent_services.network.model import HyperParams, LoginGraphSAGE
from agent_services.network.schema import NODE_TYPES
from bench.agent_cpu import realistic_logins


def reference_forward(model: LoginGraphSAGE, inputs: GraphInputs) -> torch.Tensor:
    """The forward pass as PyG runs it: each HeteroConv called as a module."""
    h = {name: torch.relu(model.encoders[name](inputs.x[name])) for name in NODE_TYPES}
    for conv in model.convs:
        messages = conv(h, inputs.edges)
        h = {name: h[name] + model.dropout(torch.relu(messages[name])) for name in NODE_TYPES}
    own = [h[name][: inputs.logins] for name in NODE_TYPES]
    return model.head(torch.cat([*own, inputs.event_x], dim=1)).squeeze(-1)


@pytest.fixture(scope="module")
def logins() -> list[tuple[LoginEvent, LoginContext]]:
    found = realistic_logins(users=80, seed=3, limit=64)
    assert len(found) >= 32
    return found


@pytest.mark.parametrize("batch", [1, 8, 32])
def test_forward_equals_heteroconv_on_realistic_graphs(
    logins: list[tuple[LoginEvent, LoginContext]], batch: int
) -> None:
    torch.manual_seed(batch)
    model = LoginGraphSAGE(HyperParams()).eval()
    with torch.inference_mode():
        for first in range(0, len(logins), batch):
            inputs = graphs_from_contexts(logins[first:first + batch]).inputs()
            assert torch.equal(model(inputs), reference_forward(model, inputs))
