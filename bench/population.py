"""The users whose logins the load generator sends: each login is a template of one of them,
sent as a new login (its own event and session ids, stamped with the current time)."""

from __future__ import annotations

import json
import random
import time
import uuid
from collections.abc import Iterable, Sequence
from pathlib import Path

from aegis.v1 import common_pb2
from aegis_domain.convert import seconds_to_timestamp
from router_service.client.eventjson import event_json_line, parse_event_object

_COUNTRIES = [("NO", 2119), ("DE", 3320), ("US", 7922), ("GB", 2856), ("FR", 3215), ("BR", 28573)]
_AGENTS = [
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/120.0", "Chrome 120", "Windows 10",
     common_pb2.DEVICE_TYPE_DESKTOP),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) Safari/604.1", "Mobile Safari 17",
     "iOS 17.1", common_pb2.DEVICE_TYPE_MOBILE),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 14_1) Firefox/121.0", "Firefox 121", "Mac OS X 14",
     common_pb2.DEVICE_TYPE_DESKTOP),
]


def short_history_templates(users: int, seed: int) -> list[common_pb2.LoginEvent]:
    """Users with a home network and one device and no past: the history they get is what
    the load itself records."""
    rng = random.Random(seed)
    templates = []
    for i in range(users):
        country, asn = rng.choice(_COUNTRIES)
        ip = f"{rng.randint(11, 220)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{i % 250 + 1}"
        user_agent, browser, os_name, device_type = _AGENTS[rng.randrange(len(_AGENTS))]
        templates.append(common_pb2.LoginEvent(
            user_id=f"bench-{i}", device_id=f"dev-{i}", ip=ip, country=country, asn=asn,
            user_agent=user_agent, browser=browser, os=os_name, device_type=device_type,
            login_successful=True, auth_method=common_pb2.AUTH_METHOD_PASSWORD,
        ))
    return templates


def write_templates(path: Path, templates: Iterable[common_pb2.LoginEvent]) -> None:
    """JSONL in the format `aegis replay` reads."""
    with path.open("w") as out:
        for event in templates:
            out.write(event_json_line(event, None) + "\n")


def read_templates(path: Path) -> list[common_pb2.LoginEvent]:
    templates = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        event, _labels, problems = parse_event_object(json.loads(line))
        if problems:
            raise ValueError(f"{path}:{number}: {problems[0]}")
        templates.append(event)
    return templates


class Population:
    """Picks a template at random (seeded) for every login sent."""

    def __init__(self, templates: Sequence[common_pb2.LoginEvent], seed: int) -> None:
        if not templates:
            raise ValueError("a population needs at least one login template")
        self.rng = random.Random(seed)
        # Not from the seed: every run's logins are new logins (the mesh answers a repeated
        # event id with its recorded decision, or refuses it when the content differs).
        self.run_id = uuid.uuid4().hex[:12]
        self.templates = templates
        self.sent = 0

    @classmethod
    def short_history(cls, users: int, seed: int) -> Population:
        return cls(short_history_templates(users, seed), seed)

    def next_login(self) -> common_pb2.LoginEvent:
        self.sent += 1
        event = common_pb2.LoginEvent()
        event.CopyFrom(self.rng.choice(self.templates))
        event.event_id = f"bench-{self.run_id}-{self.sent}"
        event.session_id = f"s-{self.run_id}-{self.sent}"
        event.timestamp.CopyFrom(seconds_to_timestamp(time.time()))
        return event
