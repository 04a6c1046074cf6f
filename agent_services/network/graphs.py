"""Login neighbourhoods in columnar form, and their conversion to the model's tensors."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from agent_services.network.csr import group_bounds, ragged_positions
from agent_services.network.schema import KEY_FEATURES, KEY_TYPES, USER

EdgeType = tuple[str, str, str]

_OTHER_USERS = KEY_FEATURES.index("other_users")


@dataclass(frozen=True, slots=True)
class GraphInputs:
    """What the model takes: node features and edges per type, and the event features.

    For every node type the first `logins` nodes are the logins' own (the target user, the
    current device, IP and ASN), in login order: the readout reads them there.
    """

    x: dict[str, torch.Tensor]
    edges: dict[EdgeType, torch.Tensor]
    event_x: torch.Tensor
    logins: int

    def to(self, device: torch.device) -> GraphInputs:
        return GraphInputs(
            x={name: t.to(device) for name, t in self.x.items()},
            edges={name: t.to(device) for name, t in self.edges.items()},
            event_x=self.event_x.to(device),
            logins=self.logins,
        )


@dataclass(frozen=True, slots=True)
class LoginGraphs:
    """The neighbourhoods of B logins. Row arrays are grouped by login, ascending.

    - `target_x` [B, user features], `event_x` [B, event features]
    - `current_x` [B, 3, key features]: each login's own device, IP and ASN (KEY_TYPES order)
    - past keys [P]: keys of a login's history other than its current ones
    - neighbours [N]: other users seen on a login's current key of type `neighbour_link`
    """

    event_x: np.ndarray
    target_x: np.ndarray
    current_x: np.ndarray
    past_login: np.ndarray
    past_type: np.ndarray
    past_x: np.ndarray
    neighbour_login: np.ndarray
    neighbour_link: np.ndarray
    neighbour_x: np.ndarray

    @property
    def logins(self) -> int:
        return len(self.target_x)

    def select(self, logins: np.ndarray, unshared: np.ndarray) -> LoginGraphs:
        """Copies of `logins` (repeats allowed). Copy i treats the key types whose bits are set
        in `unshared[i]` (bit k: KEY_TYPES[k]) as used by nobody else: their neighbours and
        their count of other users are gone. These counterfactuals measure how much sharing
        moved the risk."""
        logins = np.asarray(logins, dtype=np.int64)
        unshared = np.asarray(unshared, dtype=np.int64)
        past_start, past_end = group_bounds(self.past_login, self.logins)
        past_rows, past_copy = ragged_positions(past_start[logins], past_end[logins])
        nb_start, nb_end = group_bounds(self.neighbour_login, self.logins)
        nb_rows, nb_copy = ragged_positions(nb_start[logins], nb_end[logins])
        kept = (unshared[nb_copy] >> self.neighbour_link[nb_rows]) & 1 == 0
        nb_rows, nb_copy = nb_rows[kept], nb_copy[kept]
        current_x = self.current_x[logins].copy()
        for kind in range(len(KEY_TYPES)):
            current_x[(unshared >> kind) & 1 == 1, kind, _OTHER_USERS] = 0.0
        return LoginGraphs(
            event_x=self.event_x[logins],
            target_x=self.target_x[logins],
            current_x=current_x,
            past_login=past_copy,
            past_type=self.past_type[past_rows],
            past_x=self.past_x[past_rows],
            neighbour_login=nb_copy,
            neighbour_link=self.neighbour_link[nb_rows],
            neighbour_x=self.neighbour_x[nb_rows],
        )

    def inputs(self) -> GraphInputs:
        """The heterogeneous graph of all B logins as one disjoint union."""
        count = self.logins
        own = np.arange(count, dtype=np.int64)
        neighbour_nodes = count + np.arange(len(self.neighbour_login), dtype=np.int64)
        x = {USER: _tensor(np.concatenate((self.target_x, self.neighbour_x)))}
        edges: dict[EdgeType, torch.Tensor] = {}
        for kind, key in enumerate(KEY_TYPES):
            past = self.past_type == kind
            linked = self.neighbour_link == kind
            x[key] = _tensor(np.concatenate((self.current_x[:, kind], self.past_x[past])))
            users = np.concatenate((own, self.past_login[past], neighbour_nodes[linked]))
            keys = np.concatenate(
                (own, count + np.arange(int(past.sum()), dtype=np.int64),
                 self.neighbour_login[linked])
            )
            edges[(USER, f"uses_{key}", key)] = torch.from_numpy(np.stack((users, keys)))
            edges[(key, "used_by", USER)] = torch.from_numpy(np.stack((keys, users)))
        return GraphInputs(x=x, edges=edges, event_x=_tensor(self.event_x), logins=count)


def _tensor(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))
