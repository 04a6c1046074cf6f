"""Labelled logins as columns of integers: the form the CSR index and the sampler work on."""

from __future__ import annotations

import array
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from tqdm import tqdm

from aegis.v1 import common_pb2 as pb
from aegis_domain.convert import timestamp_to_seconds
from agent_services.network.schema import KEY_TYPES


class AttackTruth(Protocol):
    """Ground truth of one login (aegis_lab.world.Truth has this shape)."""

    @property
    def attack(self) -> str:
        """The attack type, or "" for the account owner's own login."""


class LabelledLogin(Protocol):
    """A login and its ground truth, as the world generator (aegis_lab.world.GeneratedLogin)
    yields them. The model learns to predict whether the login is any attack."""

    @property
    def event(self) -> pb.LoginEvent: ...

    @property
    def truth(self) -> AttackTruth: ...


class _Interner:
    """Dense integer ids for strings (or ASNs) in order of first appearance."""

    def __init__(self) -> None:
        self.ids: dict[str | int, int] = {}

    def __call__(self, key: str | int) -> int:
        # An empty device or IP, or ASN 0, is no key: GetContext links nothing through it.
        if not key:
            return -1
        return self.ids.setdefault(key, len(self.ids))

    def __len__(self) -> int:
        return len(self.ids)


@dataclass(frozen=True, slots=True)
class LoginTable:
    """One row per login. Users and keys are dense ids; a missing key is -1.

    `keys[k]` holds the ids of key type KEY_TYPES[k]; `user_rank[u]` is the rank of user u's
    id string, the tie-break by which GetContext orders neighbours seen at the same instant.
    `attack_type[e]` indexes `attack_types` ("" for a legitimate login, always index 0).
    `user_ids[u]` is user u's id.
    """

    user: np.ndarray
    keys: np.ndarray
    ts: np.ndarray
    success: np.ndarray
    failed_before: np.ndarray
    attack_type: np.ndarray
    attack_types: tuple[str, ...]
    user_ids: np.ndarray
    user_rank: np.ndarray
    key_counts: tuple[int, ...]
    data_hash: str

    @property
    def events(self) -> int:
        return len(self.ts)

    @property
    def attack(self) -> np.ndarray:
        return self.attack_type > 0

    @property
    def users(self) -> int:
        return len(self.user_rank)

    @classmethod
    def from_logins(cls, logins: Iterable[LabelledLogin], progress: bool = False) -> LoginTable:
        """Read the logins once, in any order; memory is a few dozen bytes per login."""
        users, keys = _Interner(), [_Interner() for _ in KEY_TYPES]
        columns = {name: array.array("q") for name in ("user", "device", "ip", "asn", "failed")}
        ts, success = array.array("d"), array.array("b")
        attack_types: dict[str, int] = {"": 0}
        attack_type = array.array("q")
        digest = hashlib.sha256()
        for login in tqdm(logins, desc="reading logins", unit=" logins", disable=not progress):
            event, attack = login.event, login.truth.attack
            data = event.SerializeToString(deterministic=True)
            digest.update(len(data).to_bytes(4, "big") + data + attack.encode() + b"\n")
            columns["user"].append(users(event.user_id))
            columns["device"].append(keys[0](event.device_id))
            columns["ip"].append(keys[1](event.ip))
            columns["asn"].append(keys[2](event.asn))
            columns["failed"].append(event.failed_attempts_before)
            ts.append(timestamp_to_seconds(event.timestamp))
            success.append(event.login_successful)
            attack_type.append(attack_types.setdefault(attack, len(attack_types)))
        user_ids = np.array(list(users.ids), dtype=object)
        return cls(
            user=np.frombuffer(columns["user"], dtype=np.int64),
            keys=np.stack([np.frombuffer(columns[k], dtype=np.int64) for k in KEY_TYPES]),
            ts=np.frombuffer(ts, dtype=np.float64),
            success=np.frombuffer(success, dtype=np.int8).astype(bool),
            failed_before=np.frombuffer(columns["failed"], dtype=np.int64),
            attack_type=np.frombuffer(attack_type, dtype=np.int64),
            attack_types=tuple(attack_types),
            user_ids=user_ids,
            user_rank=np.argsort(np.argsort(user_ids, kind="stable"), kind="stable"),
            key_counts=tuple(len(k) for k in keys),
            data_hash=digest.hexdigest(),
        )
