"""One login of a shifted world, and the RBA-shaped LoginEvent it becomes: no device id, no
session id, no coordinates, as the public dataset's logins have none."""

from __future__ import annotations

import random
from dataclasses import dataclass

from aegis.v1 import common_pb2 as pb
from aegis_domain.digest import content_event_id
from aegis_lab.shifted.places import Browser, Net, Place
from aegis_lab.world import GeneratedLogin, Truth

EVENT_ID_PREFIX = "shift-"


@dataclass(frozen=True, slots=True)
class Attempt:
    at_ms: int
    user_id: str
    browser: Browser
    place: Place
    net: Net
    ip: str
    successful: bool
    truth: Truth


def to_login(attempt: Attempt, rng: random.Random) -> GeneratedLogin:
    """The event as a login service without fingerprinting reports it, with its truth."""
    event = pb.LoginEvent(
        user_id=attempt.user_id, ip=attempt.ip, country=attempt.place.country,
        region=attempt.place.region, city=attempt.place.city, asn=attempt.net.asn,
        user_agent=attempt.browser.user_agent, browser=attempt.browser.browser,
        os=attempt.browser.os, device_type=attempt.browser.device_type,
        login_successful=attempt.successful,
    )
    event.timestamp.FromMilliseconds(attempt.at_ms)
    if rng.random() < 0.1:
        event.round_trip_time_ms = float(round(rng.lognormvariate(6.0, 0.4)))
    event.event_id = content_event_id(event, EVENT_ID_PREFIX)
    return GeneratedLogin(event, attempt.truth)
