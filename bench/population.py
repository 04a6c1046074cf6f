"""A fixed, seeded population of users whose logins the load generator sends."""

from __future__ import annotations

import random
import time
import uuid
from dataclasses import dataclass

from aegis.v1 import common_pb2
from aegis_domain.convert import seconds_to_timestamp

_COUNTRIES = [("NO", 2119), ("DE", 3320), ("US", 7922), ("GB", 2856), ("FR", 3215), ("BR", 28573)]
_AGENTS = [
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/120.0", "Chrome 120", "Windows 10",
     common_pb2.DEVICE_TYPE_DESKTOP),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) Safari/604.1", "Mobile Safari 17",
     "iOS 17.1", common_pb2.DEVICE_TYPE_MOBILE),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 14_1) Firefox/121.0", "Firefox 121", "Mac OS X 14",
     common_pb2.DEVICE_TYPE_DESKTOP),
]


@dataclass(frozen=True, slots=True)
class User:
    user_id: str
    country: str
    asn: int
    ip: str
    device_id: str
    agent: int


class Population:
    """Users with a home network and device; every login is stamped with the current time."""

    def __init__(self, users: int, seed: int) -> None:
        rng = random.Random(seed)
        self.rng = rng
        self.run_id = uuid.UUID(int=rng.getrandbits(128)).hex[:8]
        self.users = []
        for i in range(users):
            country, asn = rng.choice(_COUNTRIES)
            ip = f"{rng.randint(11, 220)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{i % 250 + 1}"
            self.users.append(
                User(f"bench-{i}", country, asn, ip, f"dev-{i}", rng.randrange(len(_AGENTS)))
            )
        self.sent = 0

    def next_login(self) -> common_pb2.LoginEvent:
        user = self.rng.choice(self.users)
        user_agent, browser, os_name, device_type = _AGENTS[user.agent]
        self.sent += 1
        return common_pb2.LoginEvent(
            event_id=f"bench-{self.run_id}-{self.sent}",
            timestamp=seconds_to_timestamp(time.time()),
            user_id=user.user_id,
            session_id=f"s-{self.run_id}-{self.sent}",
            device_id=user.device_id,
            ip=user.ip,
            country=user.country,
            asn=user.asn,
            user_agent=user_agent,
            browser=browser,
            os=os_name,
            device_type=device_type,
            login_successful=True,
            auth_method=common_pb2.AUTH_METHOD_PASSWORD,
        )
