"""Scoring logins with a loaded network model: risk, confidence and reasons, in batches."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from aegis_domain.types import AgentSignal, LoginContext, LoginEvent, Reason, SignalStatus
from agent_services.network.context_graph import (
    LINK_INDEX,
    graphs_from_contexts,
    login_keys,
    other_users,
)
from agent_services.network.inference import SageInference
from agent_services.network.reasons import shared_key_reason

# A shared key whose share of the risk is below this is not worth a reason: it is within
# what the model cannot tell apart from noise. The shares add up to at most the risk, so a
# login scored below it is not explained at all (most logins: it saves their copies).
MIN_REASON_WEIGHT = 0.02
# Confidence grows with the evidence in the graph: the user's logins and the other users
# seen on the login's device and IP (ASN neighbours are mostly strangers on the same ISP).
_HALF_CONFIDENCE_EVIDENCE = 5.0
_MIN_CONFIDENCE = 0.2
_EVIDENCE_LINKS = (0, 1)


@dataclass(frozen=True, slots=True)
class _Plan:
    """The counterfactual copies of one login: one per subset of its shared keys kept
    shared (bit i of the subset: players[i]), at `first + subset`."""

    number: int
    first: int
    players: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class NetworkScorer:
    """A loaded model and its version; assess_batch is a pure function of its inputs."""

    inference: SageInference
    model_version: str
    agent: str = "network"

    def assess_batch(
        self, requests: Sequence[tuple[LoginEvent, LoginContext]]
    ) -> list[AgentSignal]:
        """One signal per (event, context), in order: one forward pass over the union of the
        batch's graphs scores them all, a second one explains the risky ones.

        A login's device, IP and ASN that other users share are the players of a Shapley
        attribution: a risky login is scored again with every subset of them shared (at
        most 8 copies, in a second pass over the risky ones only), and each key's Shapley
        value — its fair share of how much the sharing moved the risk — is the weight of
        its reason. Redundant evidence (a ring sharing both device and IP) splits between
        the keys instead of vanishing as it would if each key were removed alone.
        """
        if not requests:
            return []
        graphs = graphs_from_contexts(requests)
        risks = self.inference.risks(graphs)
        plans: list[_Plan] = []
        copies: list[int] = []
        unshared: list[int] = []
        for number, (event, context) in enumerate(requests):
            players = tuple(
                kind
                for kind, (key, users) in enumerate(
                    zip(login_keys(event), other_users(context), strict=True)
                )
                if key and users > 0
            )
            if not players or risks[number] < MIN_REASON_WEIGHT:
                continue
            plans.append(_Plan(number, len(copies), players))
            for subset in range(1 << len(players)):
                copies.append(number)
                unshared.append(sum(1 << k for i, k in enumerate(players) if not subset >> i & 1))
        reasons: list[list[Reason]] = [[] for _ in requests]
        if plans:
            values = self.inference.risks(
                graphs.select(np.array(copies), np.array(unshared)))
            for plan in plans:
                event, context = requests[plan.number]
                reasons[plan.number] = _reasons(plan, values, event, context)
        return [
            AgentSignal(
                agent=self.agent,
                status=SignalStatus.OK,
                risk=float(risk),
                confidence=_confidence(context),
                reasons=found,
                model_version=self.model_version,
            )
            for risk, found, (_, context) in zip(risks, reasons, requests, strict=True)
        ]


def _reasons(
    plan: _Plan, risks: np.ndarray, event: LoginEvent, context: LoginContext
) -> list[Reason]:
    """A reason per shared key whose Shapley value reaches MIN_REASON_WEIGHT, largest first."""
    count = len(plan.players)
    values = risks[plan.first: plan.first + (1 << count)]
    found = []
    for i, kind in enumerate(plan.players):
        weight = 0.0
        others = [j for j in range(count) if j != i]
        for size in range(count):
            share = math.factorial(size) * math.factorial(count - size - 1) / math.factorial(count)
            for chosen in itertools.combinations(others, size):
                without = sum(1 << j for j in chosen)
                weight += share * (values[without | 1 << i] - values[without])
        if weight >= MIN_REASON_WEIGHT:
            found.append(shared_key_reason(kind, event, context, float(weight)))
    return sorted(found, key=lambda r: r.weight, reverse=True)


def _confidence(context: LoginContext) -> float:
    evidence = len(context.history) + sum(
        1 for n in context.neighbors if LINK_INDEX[n.link] in _EVIDENCE_LINKS
    )
    share = evidence / (evidence + _HALF_CONFIDENCE_EVIDENCE)
    return _MIN_CONFIDENCE + (1 - _MIN_CONFIDENCE) * share
