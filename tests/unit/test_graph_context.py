"""The serving-time graph of a login, built from a crafted event and context."""

from __future__ import annotations

import math

import numpy as np
import pytest

from aegis_domain.types import Action, LinkKind, LoginContext, LoginEvent, Neighbor, PastLogin
from agent_services.network.context_graph import graphs_from_contexts
from agent_services.network.schema import KEY_FEATURES, USER, USER_FEATURES

T0 = 1_700_000_000.0
HOUR = 3600.0


def login(ts: float, device: str, ip: str, asn: int = 64500, ok: bool = True) -> LoginEvent:
    return LoginEvent(event_id=f"e{ts}", timestamp=ts, user_id="alice", ip=ip, device_id=device,
                      asn=asn, login_successful=ok)


EVENT = LoginEvent(event_id="now", timestamp=T0, user_id="alice", ip="10.0.0.1",
                   device_id="d-1", asn=64500, login_successful=False, failed_attempts_before=2)
CONTEXT = LoginContext(
    history=[
        PastLogin(login(T0 - 2 * HOUR, "d-1", "10.0.0.1"), Action.ALLOW, 0.1),
        PastLogin(login(T0 - 5 * HOUR, "d-2", "10.0.0.2", ok=False), Action.CHALLENGE, 0.5),
        PastLogin(login(T0 - 26 * HOUR, "d-1", "10.0.0.2"), Action.ALLOW, 0.1),
    ],
    neighbors=[
        Neighbor(LinkKind.DEVICE, "bob", logins=4, failures=3, flagged=2, max_risk=0.9,
                 last_seen=T0 - HOUR),
        Neighbor(LinkKind.DEVICE, "carol", logins=1, failures=0, flagged=0, max_risk=0.1,
                 last_seen=T0 - 3 * HOUR),
        Neighbor(LinkKind.IP, "dave", logins=2, failures=2, flagged=0, max_risk=0.2,
                 last_seen=T0 - HOUR / 2),
    ],
    device_users=7,
    ip_users=1,
    asn_users=0,
    history_truncated=True,
)
# A first login without device or ASN: nothing to link but its IP.
BARE = LoginEvent(event_id="bare", timestamp=T0, user_id="erin", ip="10.9.9.9")


def log1p(x: float) -> float:
    return math.log1p(x)


def as_dict(names: tuple[str, ...], row: np.ndarray) -> dict[str, float]:
    return dict(zip(names, row.tolist(), strict=True))


def test_the_target_user_summarises_its_history() -> None:
    target = as_dict(USER_FEATURES, graphs_from_contexts([(EVENT, CONTEXT)]).target_x[0])
    assert target == pytest.approx({
        "is_target": 1, "logins": log1p(3), "failures": log1p(1), "failure_rate": 1 / 3,
        "hours_since_last_login": log1p(2), "no_earlier_login": 0, "history_truncated": 1,
        "devices": log1p(2), "ips": log1p(2), "asns": log1p(1),
    })


def test_current_keys_carry_the_users_familiarity_and_how_many_others_share_them() -> None:
    device, ip, asn = (
        as_dict(KEY_FEATURES, row) for row in graphs_from_contexts([(EVENT, CONTEXT)]).current_x[0]
    )
    assert device == pytest.approx({
        "is_current": 1, "absent": 0, "user_logins": log1p(2), "user_failures": 0,
        "hours_since_first_use": log1p(26), "hours_since_last_use": log1p(2),
        "new_for_user": 0, "other_users": log1p(7), "other_users_known": 1,
    })
    assert ip == pytest.approx({
        "is_current": 1, "absent": 0, "user_logins": log1p(1), "user_failures": 0,
        "hours_since_first_use": log1p(2), "hours_since_last_use": log1p(2),
        "new_for_user": 0, "other_users": log1p(1), "other_users_known": 1,
    })
    assert asn["user_logins"] == pytest.approx(log1p(3))
    assert asn["user_failures"] == pytest.approx(log1p(1))
    assert asn["other_users"] == 0 and asn["other_users_known"] == 1


def test_history_keys_other_than_the_current_ones_are_past_keys() -> None:
    graphs = graphs_from_contexts([(EVENT, CONTEXT)])
    assert graphs.past_type.tolist() == [0, 1]  # device d-2, IP 10.0.0.2
    d2, ip2 = (as_dict(KEY_FEATURES, row) for row in graphs.past_x)
    assert d2 == pytest.approx({
        "is_current": 0, "absent": 0, "user_logins": log1p(1), "user_failures": log1p(1),
        "hours_since_first_use": log1p(5), "hours_since_last_use": log1p(5),
        "new_for_user": 0, "other_users": 0, "other_users_known": 0,
    })
    assert ip2["user_logins"] == pytest.approx(log1p(2))
    assert ip2["hours_since_first_use"] == pytest.approx(log1p(26))
    assert ip2["hours_since_last_use"] == pytest.approx(log1p(5))


def test_neighbours_hang_off_the_key_that_links_them() -> None:
    graphs = graphs_from_contexts([(EVENT, CONTEXT)])
    assert graphs.neighbour_link.tolist() == [0, 0, 1]
    bob = as_dict(USER_FEATURES, graphs.neighbour_x[0])
    assert bob == pytest.approx({
        "is_target": 0, "logins": log1p(4), "failures": log1p(3), "failure_rate": 0.75,
        "hours_since_last_login": log1p(1), "no_earlier_login": 0, "history_truncated": 0,
        "devices": 0, "ips": 0, "asns": 0,
    })


def test_edges_of_a_batch_link_each_login_only_to_its_own_nodes() -> None:
    inputs = graphs_from_contexts([(EVENT, CONTEXT), (BARE, LoginContext())]).inputs()
    # user nodes: alice, erin (the logins' own first), then bob, carol, dave.
    assert inputs.logins == 2
    assert inputs.x[USER].shape == (5, len(USER_FEATURES))
    # device nodes: d-1, erin's absent device, then d-2.
    assert inputs.edges[(USER, "uses_device", "device")].T.tolist() == [
        [0, 0], [1, 1], [0, 2], [2, 0], [3, 0]
    ]
    assert inputs.edges[(USER, "uses_ip", "ip")].T.tolist() == [[0, 0], [1, 1], [0, 2], [4, 0]]
    assert inputs.edges[(USER, "uses_asn", "asn")].T.tolist() == [[0, 0], [1, 1]]
    assert inputs.edges[("device", "used_by", USER)].tolist() == inputs.edges[
        (USER, "uses_device", "device")
    ].flip(0).tolist()


def test_a_login_without_device_or_asn_has_absent_keys_and_no_history() -> None:
    graphs = graphs_from_contexts([(BARE, LoginContext())])
    device, ip, asn = (as_dict(KEY_FEATURES, row) for row in graphs.current_x[0])
    assert device["absent"] == 1 and device["other_users_known"] == 0
    assert asn["absent"] == 1
    assert ip["absent"] == 0 and ip["new_for_user"] == 1
    assert as_dict(USER_FEATURES, graphs.target_x[0])["no_earlier_login"] == 1


def test_select_drops_one_links_neighbours_as_if_nobody_else_used_the_key() -> None:
    graphs = graphs_from_contexts([(EVENT, CONTEXT), (BARE, LoginContext())])
    copies = graphs.select(np.array([0, 0, 1]), np.array([0, 0b001, 0]))
    assert copies.neighbour_login.tolist() == [0, 0, 0, 1]
    assert copies.neighbour_link.tolist() == [0, 0, 1, 1]
    other = KEY_FEATURES.index("other_users")
    assert copies.current_x[1, 0, other] == 0
    assert copies.current_x[1, 1, other] == graphs.current_x[0, 1, other]
    np.testing.assert_array_equal(copies.current_x[0], graphs.current_x[0])
    np.testing.assert_array_equal(copies.past_login, [0, 0, 1, 1])
