"""The trained GraphSAGE's forward pass for serving: numpy over the login graphs' own shape.

Every serving graph is a star: a target user, its current device, IP and ASN, the past keys
of its history (each linked to the target alone) and the neighbours (each linked to one
current key). The generic pass (model.py) pays a torch call per small operation of twelve
convolutions over a disjoint union, which at a batch of one login cost more than a
millisecond. Here the three key types go through each step together (stacked weights),
each mean is a segment sum over rows grouped by (key type, login), the root weights into
users are summed once at load, and the last round computes only the logins' own nodes (the
readout reads nothing else). The arithmetic is the model's; only the order of additions
differs (tests/unit/test_network_inference.py holds the risks to the torch model).

A login's risk must not depend on the batch it came in (agents are pure: a record replays
identically whether its login was scored alone or with others), yet BLAS rounds a product's
last bits differently for another number of rows. So the pass runs in float64 and each risk is
rounded to float32: the batch moves a float64 risk by ~1e-16, which changes its float32 value
only if it lies that close to a rounding boundary (about once in 10^8 logins).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from agent_services.network.graphs import LoginGraphs
from agent_services.network.model import LoginGraphSAGE
from agent_services.network.schema import KEY_TYPES, USER

_KINDS = len(KEY_TYPES)


def _weights(linear: Any) -> tuple[np.ndarray, np.ndarray]:
    """A torch Linear's weight transposed (rows: inputs) and bias (zeros if it has none)."""
    weight = linear.weight.detach().cpu().numpy().astype(np.float64)
    if linear.bias is None:
        return np.ascontiguousarray(weight.T), np.zeros(len(weight), dtype=np.float64)
    return np.ascontiguousarray(weight.T), linear.bias.detach().cpu().numpy().astype(np.float64)


@dataclass(frozen=True, slots=True)
class _Stacked:
    """One linear layer per key type: `weight` [3, in, out] and `bias` [3, 1, out]."""

    weight: np.ndarray
    bias: np.ndarray

    @classmethod
    def of(cls, linears: list[Any]) -> _Stacked:
        weights, biases = zip(*(_weights(linear) for linear in linears), strict=True)
        return cls(weight=np.stack(weights), bias=np.stack(biases)[:, None, :])

    def stacked(self, x: np.ndarray) -> np.ndarray:
        """[3, R, in] -> [3, R, out], type k through layer k."""
        return np.matmul(x, self.weight) + self.bias

    def by_kind(self, x: np.ndarray, bounds: np.ndarray) -> np.ndarray:
        """[R, in] rows sorted by type (type k: rows bounds[k]:bounds[k + 1]) -> [R, out],
        each through its own type's layer."""
        out = np.empty((len(x), self.weight.shape[2]), dtype=np.float64)
        for kind in range(_KINDS):
            rows = slice(bounds[kind], bounds[kind + 1])
            out[rows] = x[rows] @ self.weight[kind] + self.bias[kind]
        return out


@dataclass(frozen=True, slots=True)
class _Round:
    """One HeteroConv round of SAGEConvs (mean aggregation, root weight, no normalisation).
    Into keys of type k: `into_key` (the mean of its users) + `key_root` (itself). Into users:
    `into_user` (per type, the mean of its keys of that type); every user gets all three
    types' biases and root terms (a mean over no edge is zero), so those are summed once."""

    into_key: _Stacked
    key_root: _Stacked
    into_user: _Stacked
    into_target: np.ndarray
    user_root: np.ndarray
    user_bias: np.ndarray

    @classmethod
    def of(cls, conv: Any) -> _Round:
        uses = [conv.convs[(USER, f"uses_{key}", key)] for key in KEY_TYPES]
        used_by = [conv.convs[(key, "used_by", USER)] for key in KEY_TYPES]
        into_user = _Stacked.of([sage.lin_l for sage in used_by])
        roots = _Stacked.of([sage.lin_r for sage in used_by])
        return cls(
            into_key=_Stacked.of([sage.lin_l for sage in uses]),
            key_root=_Stacked.of([sage.lin_r for sage in uses]),
            into_user=_Stacked(into_user.weight, np.zeros_like(into_user.bias)),
            # A target's three means side by side [B, 3 * hidden] go through one product.
            into_target=np.ascontiguousarray(into_user.weight.reshape(-1,
                                                                      into_user.weight.shape[2])),
            user_root=roots.weight.sum(axis=0),
            user_bias=into_user.bias.sum(axis=0)[0] + roots.bias.sum(axis=0)[0],
        )


@dataclass(frozen=True, slots=True)
class _Segments:
    """Rows sorted by group (key type * B + login): the order that sorts them, their groups,
    where each group starts, the rows per group as [3, B], and where each type's rows start
    (and the last ends)."""

    order: np.ndarray
    group: np.ndarray
    starts: np.ndarray
    count: np.ndarray
    bounds: np.ndarray

    @classmethod
    def of(cls, kinds: np.ndarray, login: np.ndarray, logins: int) -> _Segments:
        key = kinds * logins + login
        order = np.argsort(key, kind="stable")
        group = key[order]
        starts = np.flatnonzero(np.concatenate(([True], group[1:] != group[:-1])))
        count = np.bincount(group, minlength=_KINDS * logins).reshape(_KINDS, logins)
        bounds = np.concatenate(([0], np.cumsum(count.sum(axis=1))))
        return cls(order, group, starts[: len(group)], count, bounds)

    @property
    def kinds(self) -> np.ndarray:
        return self.group // self.count.shape[1]

    @property
    def login(self) -> np.ndarray:
        return self.group % self.count.shape[1]

    def mean_with(self, own: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """[3, B, H]: per type and login, the mean of `own` [3, B, H] and its rows."""
        total = own.copy()
        if len(self.group):
            flat = total.reshape(-1, total.shape[2])
            flat[self.group[self.starts]] += np.add.reduceat(rows, self.starts, axis=0)
        return total / (1.0 + self.count[..., None])


class SageInference:
    """A LoginGraphSAGE's weights as numpy arrays; `risks` is its forward pass + sigmoid."""

    def __init__(self, model: LoginGraphSAGE) -> None:
        self.user_encoder = _weights(model.encoders[USER])
        self.key_encoders = _Stacked.of([model.encoders[key] for key in KEY_TYPES])
        self.rounds = tuple(_Round.of(conv) for conv in model.convs)
        self.head = (_weights(model.head[0]), _weights(model.head[2]))

    def risks(self, graphs: LoginGraphs) -> np.ndarray:
        """The probability of each login (float64 holding a float32 value, see above)."""
        logins = graphs.logins
        past = _Segments.of(graphs.past_type, graphs.past_login, logins)
        neighbours = _Segments.of(graphs.neighbour_link, graphs.neighbour_login, logins)
        weight, bias = self.user_encoder
        target = _relu(_float64(graphs.target_x) @ weight + bias)
        neighbour = _relu(_float64(graphs.neighbour_x)[neighbours.order] @ weight + bias)
        current = _relu(self.key_encoders.stacked(_float64(graphs.current_x).transpose(1, 0, 2)))
        past_keys = _relu(self.key_encoders.by_kind(_float64(graphs.past_x)[past.order],
                                                    past.bounds))
        for number, step in enumerate(self.rounds):
            # The current keys' users: the target and its neighbours through that key; the
            # target's keys of a type: the current one and its past ones.
            users = neighbours.mean_with(np.broadcast_to(target, current.shape), neighbour)
            keys = past.mean_with(current, past_keys)
            into_target = keys.transpose(1, 0, 2).reshape(logins, -1) @ step.into_target
            if number < len(self.rounds) - 1:
                # A past key's only user is the target; a neighbour's only key, its login's
                # current key of its link's type: computed once per login and type, then
                # given to each row. The last round needs neither.
                from_target = step.into_key.stacked(np.broadcast_to(target, current.shape))
                past_keys = past_keys + _relu(
                    from_target[past.kinds, past.login]
                    + step.key_root.by_kind(past_keys, past.bounds))
                from_key = step.into_user.stacked(current)
                neighbour = neighbour + _relu(
                    neighbour @ step.user_root + step.user_bias
                    + from_key[neighbours.kinds, neighbours.login])
            current = current + _relu(step.into_key.stacked(users) + step.key_root.stacked(current))
            target = target + _relu(target @ step.user_root + step.user_bias + into_target)
        (w1, b1), (w2, b2) = self.head
        features = np.concatenate(
            (target, *current, _float64(graphs.event_x)), axis=1)
        logits = (_relu(features @ w1 + b1) @ w2 + b2)[:, 0]
        risks = 1.0 / (1.0 + np.exp(-logits))
        return risks.astype(np.float32).astype(np.float64)


def _relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0.0, out=x)


def _float64(x: np.ndarray) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)
