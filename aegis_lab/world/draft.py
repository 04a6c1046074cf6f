"""A login before it becomes a LoginEvent: who, when, from where, and what it really was."""

from __future__ import annotations

import random
from dataclasses import dataclass

from aegis.v1 import common_pb2 as pb
from aegis_domain.digest import content_event_id
from aegis_lab.world.places import City, Client, Network
from aegis_lab.world.truth import LEGITIMATE, Truth


@dataclass(frozen=True, slots=True)
class Draft:
    """One login attempt in the making; it is named in output order."""

    at_ms: int
    user_id: str
    device_id: str
    client: Client
    city: City
    network: Network
    ip: str
    successful: bool
    auth_method: pb.AuthMethod.ValueType
    session_id: str
    truth: Truth = LEGITIMATE
    failed_before: int = 0
    round_trip_ms: float | None = None


# Generated logins' event ids: "gen-" and a digest of the content.
EVENT_ID_PREFIX = "gen-"


def to_event(draft: Draft, name: str, bare: bool = False) -> pb.LoginEvent:
    """The LoginEvent a login service would report: raw facts only, never the truth. `name`
    seeds the event's own randomness; the event id comes from the content, since one
    seed's n-th login differs from world to world (size, start), and an event id must name
    one login (the audit decides each once). `bare`: only the public RBA dataset's columns,
    as a login service without fingerprinting reports them."""
    rng = random.Random(name)
    event = pb.LoginEvent(
        user_id=draft.user_id,
        ip=draft.ip,
        country=draft.city.country,
        region=draft.city.region,
        city=draft.city.name,
        asn=draft.network.asn,
        user_agent=draft.client.user_agent,
        browser=draft.client.browser,
        os=draft.client.os,
        device_type=draft.client.device_type,
        login_successful=draft.successful,
    )
    # IP geolocation is approximate: a few kilometres around the city centre (drawn for a bare
    # login too, so that a world's other randomness does not depend on which logins are bare).
    latitude = round(draft.city.latitude + rng.gauss(0, 0.05), 4)
    longitude = round(draft.city.longitude + rng.gauss(0, 0.05), 4)
    accuracy_radius_km = float(rng.choice((5, 10, 20, 50)))
    if not bare:
        event.session_id, event.device_id = draft.session_id, draft.device_id
        event.auth_method, event.failed_attempts_before = draft.auth_method, draft.failed_before
        event.latitude, event.longitude = latitude, longitude
        event.accuracy_radius_km = accuracy_radius_km
    event.timestamp.FromMilliseconds(draft.at_ms)
    if draft.round_trip_ms is not None:
        event.round_trip_time_ms = draft.round_trip_ms
    event.event_id = content_event_id(event, EVENT_ID_PREFIX)
    return event
