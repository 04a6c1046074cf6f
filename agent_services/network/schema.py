"""The shape of a login's neighbourhood graph: node and edge types and their features.

One login is a small heterogeneous graph. Its user (the *target*) links to the devices, IPs
and ASNs of its history and of the login itself (the *current* keys); the other users seen
on the current keys (the *neighbours*) link to those keys. Both the training sampler and the
serving path compute the raw quantities below and pass them through the same functions, so
that a model sees identical features whichever side built the graph.
"""

from __future__ import annotations

import numpy as np

USER = "user"
KEY_TYPES = ("device", "ip", "asn")
NODE_TYPES = (USER, *KEY_TYPES)
# Both directions of every user-key relation: keys learn from their users and users from
# their keys.
EDGE_TYPES = tuple(
    edge
    for key in KEY_TYPES
    for edge in ((USER, f"uses_{key}", key), (key, "used_by", USER))
)

USER_FEATURES = (
    "is_target",
    "logins",
    "failures",
    "failure_rate",
    "hours_since_last_login",
    "no_earlier_login",
    "history_truncated",
    "devices",
    "ips",
    "asns",
)
KEY_FEATURES = (
    "is_current",
    "absent",
    "user_logins",
    "user_failures",
    "hours_since_first_use",
    "hours_since_last_use",
    "new_for_user",
    "other_users",
    "other_users_known",
)
EVENT_FEATURES = ("login_successful", "failed_attempts_before")

_HOUR_S = 3600.0


def feature_names() -> list[str]:
    """Every input feature, qualified by where it sits; recorded in the model's metadata."""
    return [
        *(f"{USER}.{name}" for name in USER_FEATURES),
        *(f"key.{name}" for name in KEY_FEATURES),
        *(f"event.{name}" for name in EVENT_FEATURES),
    ]


def _count(values: np.ndarray) -> np.ndarray:
    # Counts span orders of magnitude (one login, a NAT with thousands of users).
    return np.log1p(np.maximum(np.asarray(values, dtype=np.float64), 0.0))


def _hours(seconds: np.ndarray) -> np.ndarray:
    return np.log1p(np.maximum(np.asarray(seconds, dtype=np.float64), 0.0) / _HOUR_S)


def user_features(
    *,
    is_target: np.ndarray,
    logins: np.ndarray,
    failures: np.ndarray,
    seconds_since_last: np.ndarray,
    truncated: np.ndarray,
    devices: np.ndarray,
    ips: np.ndarray,
    asns: np.ndarray,
) -> np.ndarray:
    """Rows of USER_FEATURES. For a target the counts are over its history; for a neighbour
    over its logins on the key that links it (devices/ips/asns and truncated are then 0)."""
    logins = np.asarray(logins, dtype=np.float64)
    failures = np.asarray(failures, dtype=np.float64)
    none = logins == 0
    columns = [
        np.asarray(is_target, dtype=np.float64),
        _count(logins),
        _count(failures),
        failures / np.maximum(logins, 1.0),
        np.where(none, 0.0, _hours(seconds_since_last)),
        none.astype(np.float64),
        np.asarray(truncated, dtype=np.float64),
        _count(devices),
        _count(ips),
        _count(asns),
    ]
    return np.stack(columns, axis=1).astype(np.float32)


def key_features(
    *,
    is_current: np.ndarray,
    absent: np.ndarray,
    user_logins: np.ndarray,
    user_failures: np.ndarray,
    seconds_since_first_use: np.ndarray,
    seconds_since_last_use: np.ndarray,
    other_users: np.ndarray,
    other_users_known: np.ndarray,
) -> np.ndarray:
    """Rows of KEY_FEATURES for devices, IPs or ASNs. The target's use of the key comes from
    its history; other users are counted for the current keys only (GetContext lists
    neighbours of the login's own device, IP and ASN, not of its history's)."""
    absent = np.asarray(absent, dtype=bool)
    user_logins = np.asarray(user_logins, dtype=np.float64)
    unused = user_logins == 0
    columns = [
        np.asarray(is_current, dtype=np.float64),
        absent.astype(np.float64),
        _count(user_logins),
        _count(user_failures),
        np.where(unused, 0.0, _hours(seconds_since_first_use)),
        np.where(unused, 0.0, _hours(seconds_since_last_use)),
        (unused & ~absent).astype(np.float64),
        _count(other_users),
        np.asarray(other_users_known, dtype=np.float64),
    ]
    return np.stack(columns, axis=1).astype(np.float32)


def event_features(
    *, login_successful: np.ndarray, failed_attempts_before: np.ndarray
) -> np.ndarray:
    """Rows of EVENT_FEATURES: the raw facts of the login itself that the readout sees."""
    columns = [
        np.asarray(login_successful, dtype=np.float64),
        _count(failed_attempts_before),
    ]
    return np.stack(columns, axis=1).astype(np.float32)
