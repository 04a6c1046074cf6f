"""GraphSAGE over the heterogeneous user-device-IP-ASN graph of a login."""

from __future__ import annotations

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn
from torch_geometric.nn import HeteroConv, SAGEConv

from agent_services.network.graphs import GraphInputs
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
        for conv in self.convs:
            messages = conv(h, inputs.edges)
            h = {name: h[name] + self.dropout(torch.relu(messages[name])) for name in NODE_TYPES}
        own = [h[name][: inputs.logins] for name in NODE_TYPES]
        return self.head(torch.cat([*own, inputs.event_x], dim=1)).squeeze(-1)
