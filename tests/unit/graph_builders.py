"""Builders shared by the graph and network-agent tests (this module has no tests of its own)."""

from __future__ import annotations

import random
import zlib
from collections.abc import Sequence

import numpy as np
import torch

from aegis.v1 import common_pb2 as pb
from aegis_domain.context_rules import ContextBounds, links
from aegis_domain.convert import event_from_proto, seconds_to_timestamp
from aegis_domain.types import Action, LinkKind, LoginContext, LoginEvent, Neighbor, PastLogin
from aegis_lab.world import GeneratedLogin, Truth, WorldConfig, generate
from aegis_lab.world.truth import FRAUD_RING
from agent_services.network.graphs import LoginGraphs
from agent_services.network.model import HyperParams, LoginGraphSAGE

# Small bounds, so that a world of a few hundred logins reaches every cut of GetContext.
SMALL_BOUNDS = ContextBounds(
    history_limit=6,
    history_max_age_s=3 * 86_400.0,
    neighbor_limit=3,
    neighbor_window_s=2 * 86_400.0,
    velocity_window_s=3600,
    scan_limit=25,
)


def tiny_world(events: int = 600, seed: int = 3) -> list[GeneratedLogin]:
    """A few days of a generated world, one login in ten an attack. One login in five is
    moved onto one of four shared devices, one in seven onto one of three shared addresses:
    a world this small has too few rings, families and NATs to exercise those links."""
    config = WorldConfig(users=max(10, events // 20), events=events, seed=seed, days=4,
                         attack_share=0.1)
    world = []
    for login in generate(config):
        spread = zlib.crc32(login.event.event_id.encode())
        if spread % 5 == 0 or spread % 7 == 0:
            event = pb.LoginEvent()
            event.CopyFrom(login.event)
            if spread % 5 == 0:
                event.device_id = f"shared-{spread % 4}"
            if spread % 7 == 0:
                event.ip = f"198.51.100.{spread % 3}"
            login = GeneratedLogin(event, login.truth)
        world.append(login)
    return world


def brute_force_contexts(
    logins: Sequence[GeneratedLogin], bounds: ContextBounds
) -> list[tuple[LoginEvent, LoginContext]]:
    """Every login with its GetContext answer computed the slow, obvious way: a scan of all
    logins per login, following the rules of aegis_domain.context_rules and its index queries."""
    events = [event_from_proto(login.event) for login in logins]
    return [(event, _brute_force_context(events, event, bounds)) for event in events]


def _brute_force_context(
    events: list[LoginEvent], event: LoginEvent, bounds: ContextBounds
) -> LoginContext:
    at = event.timestamp
    before = sorted(
        (e for e in events if e.user_id == event.user_id and e.timestamp < at),
        key=lambda e: e.timestamp, reverse=True,
    )[: bounds.history_limit + 1]
    kept = 0
    for past in before[: bounds.history_limit]:
        if past.timestamp < at - bounds.history_max_age_s:
            break
        kept += 1
    totals: dict[LinkKind, int] = {}
    neighbours: list[Neighbor] = []
    for kind, key in links(event.device_id, event.ip, event.asn):
        scanned = sorted(
            (e for e in events
             if _key(e, kind) == key and at - bounds.neighbor_window_s <= e.timestamp < at),
            key=lambda e: e.timestamp, reverse=True,
        )[: bounds.scan_limit]
        by_user: dict[str, list[LoginEvent]] = {}
        for e in scanned:
            if e.user_id != event.user_id:
                by_user.setdefault(e.user_id, []).append(e)
        totals[kind] = len(by_user)
        ordered = sorted(by_user.items(), key=lambda item: (-item[1][0].timestamp, item[0]))
        neighbours += [
            Neighbor(link=kind, user_id=user, logins=len(rows),
                     failures=sum(not e.login_successful for e in rows), flagged=0,
                     max_risk=0.0, last_seen=rows[0].timestamp)
            for user, rows in ordered[: bounds.neighbor_limit]
        ]
    return LoginContext(
        history=[PastLogin(event=e, action=Action.ALLOW, risk=0.0) for e in before[:kept]],
        neighbors=neighbours,
        device_users=totals.get(LinkKind.DEVICE, 0),
        ip_users=totals.get(LinkKind.IP, 0),
        asn_users=totals.get(LinkKind.ASN, 0),
        history_truncated=kept < len(before),
    )


def _key(event: LoginEvent, kind: LinkKind) -> str | int:
    keys: dict[LinkKind, str | int] = {
        LinkKind.DEVICE: event.device_id, LinkKind.IP: event.ip, LinkKind.ASN: event.asn
    }
    return keys[kind]


def ring_world(seed: int = 0) -> list[GeneratedLogin]:
    """A crafted world: honest users on devices of their own, often a new device or a new
    address, and a fraud ring whose three devices log into many of their accounts, from the
    victim's own address or a fresh one on the same ISPs. Only the sharing of a device
    tells the ring apart."""
    rng = random.Random(seed)
    logins = []
    for user in range(RING_USERS):
        for day in range(8):
            device = f"d-{user}" if rng.random() > 0.3 else f"new-{user}-{day}"
            ip = f"10.1.{user}.1" if rng.random() > 0.4 else f"10.2.{user}.{day}"
            at = RING_T0 + day * 86_400 + user * 60 + rng.uniform(0, 3600)
            logins.append(_login(at, f"u-{user}", device, ip, 64500 + rng.randrange(5), ""))
    for attempt in range(RING_ATTEMPTS):
        at = RING_T0 + attempt / RING_ATTEMPTS * 7 * 86_400 + 1800
        victim = attempt % RING_USERS
        ip = f"10.1.{victim}.1" if rng.random() < 0.5 else f"10.66.{attempt}.1"
        logins.append(_login(at, f"u-{victim}", f"ring-{attempt % 3}", ip,
                             64500 + rng.randrange(5), FRAUD_RING))
    return sorted(logins, key=lambda login: login.event.timestamp.ToMilliseconds())


RING_USERS = 40
RING_ATTEMPTS = 60
RING_T0 = 1_700_000_000.0


def _login(at: float, user: str, device: str, ip: str, asn: int, attack: str) -> GeneratedLogin:
    event = pb.LoginEvent(event_id=f"{user}@{at:.3f}", user_id=user, device_id=device, ip=ip,
                          asn=asn, login_successful=True, country="NO")
    event.timestamp.CopyFrom(seconds_to_timestamp(at))
    return GeneratedLogin(event, Truth(attack=attack, campaign="ring" if attack else ""))


def context_for(
    logins: Sequence[GeneratedLogin], event: LoginEvent, bounds: ContextBounds
) -> LoginContext:
    """GetContext's answer for a new login after all of `logins` (brute force)."""
    return _brute_force_context([event_from_proto(login.event) for login in logins], event,
                                bounds)


def rows(login: np.ndarray, kind: np.ndarray, x: np.ndarray) -> list[tuple[object, ...]]:
    """Rows as sortable tuples: graphs are equal up to the order of nodes within a login."""
    return sorted(
        (int(n), int(k), *np.round(features, 5).tolist())
        for n, k, features in zip(login, kind, x, strict=True)
    )


def assert_same_graphs(sampled: LoginGraphs, served: LoginGraphs) -> None:
    for name in ("event_x", "target_x", "current_x"):
        np.testing.assert_allclose(getattr(sampled, name), getattr(served, name), atol=1e-5,
                                   err_msg=name)
    assert rows(sampled.past_login, sampled.past_type, sampled.past_x) == rows(
        served.past_login, served.past_type, served.past_x
    )
    assert rows(sampled.neighbour_login, sampled.neighbour_link, sampled.neighbour_x) == rows(
        served.neighbour_login, served.neighbour_link, served.neighbour_x
    )
    # And so the model cannot tell them apart.
    torch.manual_seed(0)
    model = LoginGraphSAGE(HyperParams()).eval()
    with torch.inference_mode():
        torch.testing.assert_close(model(sampled.inputs()), model(served.inputs()))
