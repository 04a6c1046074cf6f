"""GraphSAGE over the heterogeneous user-device-IP-ASN graph of a login."""

from __future__ import annotations

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn
from torch.nn import functional as F
from torch_geometric.nn import HeteroConv, SAGEConv

from agent_services.network.graphs import EdgeType, GraphInputs
from agent_services.network.schema import (
    EDGE_TYPES,
    EVENT_FEATURES,
    KEY_FEATURES,
    KEY_TYPES,
    NODE_TYPES,
    USER,
    USER_FEATURES,
)


class HyperParams(BaseModel):
    """The architecture; recorded in the artifact so that the agent rebuilds the same one."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    hidden: int = Field(32, ge=1, description="Width of every node embedding.")
    layers: int = Field(2, ge=1, description="Rounds of message passing.")
    dropout: float = Field(0.1, ge=0, lt=1, description="Dropout on messages, in training.")


class LoginGraphSAGE(nn.Module):
    """Encodes each node type, runs `layers` rounds of heterogeneous SAGE convolution (one
    SAGEConv per edge type, summed per destination, with residuals), and scores each login
    from its own nodes: target user, current device, IP and ASN, plus the event's features.

    Two layers reach what GetContext provides: neighbour -> current key -> target user.
    """

    def __init__(self, params: HyperParams) -> None:
        super().__init__()
        self.params = params
        width = {USER: len(USER_FEATURES), **{key: len(KEY_FEATURES) for key in KEY_TYPES}}
        self.encoders = nn.ModuleDict(
            {name: nn.Linear(width[name], params.hidden) for name in NODE_TYPES}
        )
        self.convs = nn.ModuleList(
            HeteroConv(
                {edge: SAGEConv(params.hidden, params.hidden) for edge in EDGE_TYPES}, aggr="sum"
            )
            for _ in range(params.layers)
        )
        self.dropout = nn.Dropout(params.dropout)
        self.head = nn.Sequential(
            nn.Linear(len(NODE_TYPES) * params.hidden + len(EVENT_FEATURES), params.hidden),
            nn.ReLU(),
            nn.Linear(params.hidden, 1),
        )

    def forward(self, inputs: GraphInputs) -> torch.Tensor:
        """One logit per login."""
        h = {name: torch.relu(self.encoders[name](inputs.x[name])) for name in NODE_TYPES}
        means = {
            edge: _Mean(index, h[edge[2]]) for edge, index in inputs.edges.items()
        }
        for conv in self.convs:
            messages = _convolve(conv, h, means)
            h = {name: h[name] + self.dropout(torch.relu(messages[name])) for name in NODE_TYPES}
        own = [h[name][: inputs.logins] for name in NODE_TYPES]
        return self.head(torch.cat([*own, inputs.event_x], dim=1)).squeeze(-1)


class _Mean:
    """Mean over the edges of one type into their destinations, with the edge index and the
    in-degrees worked out once for every layer."""

    def __init__(self, edge_index: torch.Tensor, destinations: torch.Tensor) -> None:
        self.source = edge_index[0]
        target = edge_index[1]
        self.target = target.view(-1, 1).expand(-1, destinations.size(1))
        count = destinations.new_zeros(destinations.size(0))
        count.scatter_add_(0, target, destinations.new_ones(target.size(0)))
        self.count = count.clamp(min=1).view(-1, 1)

    def __call__(self, sources: torch.Tensor) -> torch.Tensor:
        messages = sources.index_select(0, self.source)
        total = messages.new_zeros(self.count.size(0), messages.size(1))
        return total.scatter_add_(0, self.target, messages) / self.count


def _convolve(
    conv: HeteroConv, h: dict[str, torch.Tensor], means: dict[EdgeType, _Mean]
) -> dict[str, torch.Tensor]:
    """What `conv(h, edges)` computes, op for op (a mean-aggregating SAGEConv per edge type,
    outputs summed per destination), without PyG's generic message passing around each of
    its twelve small convolutions: that machinery cost more than the arithmetic of a batch
    of login graphs. tests/unit/test_network_model.py holds it equal to HeteroConv."""
    outputs: dict[str, list[torch.Tensor]] = {}
    for edge, sage in conv.convs.items():
        mean = means.get(edge)
        if mean is None:
            continue
        source, _, target = edge
        out = F.linear(mean(h[source]), sage.lin_l.weight, sage.lin_l.bias)
        out = out + F.linear(h[target], sage.lin_r.weight, sage.lin_r.bias)
        outputs.setdefault(target, []).append(out)
    return {
        name: xs[0] if len(xs) == 1 else torch.stack(xs, dim=0).sum(dim=0)
        for name, xs in outputs.items()
    }
