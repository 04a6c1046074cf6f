"""The columnar context (LoginHistory) gives every agent exactly what a past login at a time
gave it: on realistic generated worlds (30 days of history, shared addresses), features and
signals equal the per-login definitions they replaced, and a record written with the old
PastLogin history replays to the same signals."""

from __future__ import annotations

import itertools
import math
import re
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from aegis.v1 import common_pb2 as pb
from aegis_domain.convert import (
    context_from_proto,
    context_to_proto,
    event_from_proto,
    event_to_proto,
    history_to_proto,
)
from aegis_domain.geo_data import MIN_TRAVEL_GAP_S, Locator
from aegis_domain.login_history import LoginHistory
from aegis_domain.types import Action, LinkKind, LoginContext, LoginEvent, PastLogin
from aegis_lab.contexts import offline_contexts
from aegis_lab.world import WorldConfig, generate
from aegis_runtime.errors import InvalidArgument
from agent_services.attributes import FEATURES
from agent_services.behavior import BehaviorAgent
from agent_services.detection_features import FEATURE_NAMES, DetectionFeatures
from agent_services.geo import GeoAgent
from agent_services.history import TRUSTED_ACTIONS, own_logins, successful_logins
from audit_service.settings import AuditSettings

_DAY_S = 86_400.0
_HOUR_S = 3600.0
# Offline contexts record every login as ALLOW: vary the decisions so that the agents' two
# readings of the history (trusted, successful) differ.
_ACTIONS = (Action.ALLOW, Action.CHALLENGE, Action.ALLOW, Action.BLOCK_TEMPORARY,
            Action.ESCALATE, Action.ALLOW)


@pytest.fixture(scope="module")
def logins() -> list[tuple[LoginEvent, LoginContext]]:
    """Logins of a 31-day world, each with its context as it comes off the wire."""
    config = WorldConfig(users=40, seed=11, days=31, start=datetime(2026, 1, 1, tzinfo=UTC),
                         events=40 * 52, attack_share=0.05)
    events = sorted((event_from_proto(g.event) for g in generate(config)),
                    key=lambda e: e.timestamp)
    found = []
    for n, (event, context) in enumerate(offline_contexts(events, AuditSettings()
                                                           .context_bounds())):
        if n % 3:
            continue  # a third of the world is plenty, and keeps the test quick
        context.history = [
            PastLogin(p.event, _ACTIONS[(n + i) % len(_ACTIONS)], (n + i) % 7 / 7)
            for i, p in enumerate(context.history)
        ]
        found.append((event, context_from_proto(context_to_proto(context))))
    assert max(len(c.history) for _, c in found) >= 40  # long histories are there
    return found


def _events(context: LoginContext, trusted: bool) -> list[LoginEvent]:
    """The per-login definitions of history.own_logins and successful_logins."""
    return [p.event for p in context.history if p.event.login_successful
            and (not trusted or p.action in TRUSTED_ACTIONS)]


def test_the_wire_carries_the_history_as_columns(
    logins: list[tuple[LoginEvent, LoginContext]],
) -> None:
    for _, context in logins[::10]:
        message = context_to_proto(context)
        assert not message.history  # the old shape is never written
        assert isinstance(context.history, LoginHistory)
        assert list(context.history) == list(context_from_proto(message).history)


def test_an_old_records_history_reads_as_the_same_logins(
    logins: list[tuple[LoginEvent, LoginContext]],
) -> None:
    for _, context in logins[::10]:
        old = context_to_proto(context)
        old.ClearField("past_logins")
        old.history.extend(
            pb.PastLogin(event=event_to_proto(p.event), action=int(p.action), risk=p.risk)
            for p in context.history
        )
        assert context_from_proto(old) == context


def test_own_and_successful_logins_are_the_per_login_filters(
    logins: list[tuple[LoginEvent, LoginContext]],
) -> None:
    for _, context in logins:
        history = LoginHistory.of(context.history)
        assert list(own_logins(history).event_id) == [
            e.event_id for e in _events(context, trusted=True)]
        assert list(successful_logins(history).event_id) == [
            e.event_id for e in _events(context, trusted=False)]


def test_feature_counts_equal_counting_login_by_login(
    logins: list[tuple[LoginEvent, LoginContext]],
) -> None:
    for _, context in logins:
        own = own_logins(LoginHistory.of(context.history))
        events = _events(context, trusted=True)
        for feature in FEATURES:
            expected = Counter(v for e in events if (v := feature.extract(e)))
            assert feature.counts(own) == expected, feature.name


def test_located_logins_are_those_the_locator_places(
    logins: list[tuple[LoginEvent, LoginContext]],
) -> None:
    locator = Locator()
    for _, context in logins:
        events = _events(context, trusted=False)
        expected = [(e.timestamp, p) for e in events if (p := locator.locate(e)) is not None]
        assert list(locator.located(successful_logins(LoginHistory.of(context.history)))) == (
            expected)


def test_detection_features_equal_the_per_login_definitions(
    logins: list[tuple[LoginEvent, LoginContext]],
) -> None:
    features = DetectionFeatures()
    for event, context in logins:
        columnar = features.vector(event, context)
        expected = _reference_vector(features, event, context)
        for name, got, want in zip(FEATURE_NAMES, columnar, expected, strict=True):
            assert got == want or (math.isnan(got) and math.isnan(want)), name


@pytest.mark.parametrize("agent", [GeoAgent(), BehaviorAgent(Path("no-model"))],
                         ids=["geo", "behavior"])
def test_signals_equal_those_of_a_login_at_a_time(
    logins: list[tuple[LoginEvent, LoginContext]], agent: GeoAgent | BehaviorAgent,
) -> None:
    """The same agent on the same context held as PastLogin objects (the old shape): each
    column read must give what the objects gave."""
    for event, context in logins:
        objects = LoginContext(list(context.history), list(context.neighbors), context.velocity,
                               context.device_users, context.ip_users, context.asn_users,
                               context.history_truncated, context.asn_countries)
        assert agent.assess(event, context) == agent.assess(event, objects)


# The detection features as they were computed before the columnar context, one past login at a
# time: the definition the columnar code must keep.

def _reference_vector(
    features: DetectionFeatures, event: LoginEvent, context: LoginContext
) -> list[float]:
    now = event.timestamp
    history = list(context.history)
    own = _events(context, trusted=False)
    values: list[float] = [
        len(own), len(history), float(context.history_truncated),
        (now - own[-1].timestamp) / _DAY_S if own else math.nan,
        (now - own[0].timestamp) / _HOUR_S if own else math.nan,
        (now - history[0].event.timestamp) / _HOUR_S if history else math.nan,
    ]
    values += _reference_device_features(event, own)
    values += [
        [f.extract(e) for e in own].count(v) / len(own) if own and (v := f.extract(event))
        else math.nan
        for f in FEATURES
    ]
    values += _reference_builds(event, own)
    devices = Counter(e.device_id for e in own if e.device_id)
    values += [
        len(devices), len({e.ip for e in own}), len({e.country for e in own if e.country}),
        devices.most_common(1)[0][1] / len(own) if devices else math.nan,
        len({e.device_id for e in own if e.device_id and now - e.timestamp <= 7 * _DAY_S}),
    ]
    recent = [p.event for p in history if now - p.event.timestamp <= _DAY_S]
    since_success = next((i for i, p in enumerate(history) if p.event.login_successful),
                         len(history))
    values += [float(event.login_successful), event.failed_attempts_before,
               sum(not e.login_successful for e in recent), since_success]
    values += _reference_address(event, [p.event for p in history])
    v = context.velocity
    values += [v.user_attempts, v.user_failures, v.ip_attempts, v.ip_failures,
               v.ip_distinct_users, v.device_distinct_users,
               context.device_users, context.ip_users, context.asn_users]
    for kind in LinkKind:
        linked = [n for n in context.neighbors if n.link == kind]
        total = sum(n.logins for n in linked)
        values.append(sum(n.failures for n in linked) / total if total else math.nan)
    values.append(sum(now - n.last_seen <= _HOUR_S for n in context.neighbors
                      if n.link == LinkKind.ASN))
    values.append(context.asn_countries)
    values += _reference_hours(event, own)
    distance, speed = _reference_travel(features.locator, event, own)
    values += [distance, speed,
               0.0 if context.asn_countries > 1 and not math.isnan(speed) else speed]
    values += [float(event.asn in features.hosting_asns), float(event.device_type),
               float(event.auth_method), float(bool(event.device_id)),
               math.nan if event.round_trip_time_ms is None else event.round_trip_time_ms]
    return [float(value) for value in values]


def _reference_address(event: LoginEvent, history: list[LoginEvent]) -> list[float]:
    on_network = [e.ip for e in history if e.asn == event.asn]
    one_off = (sum([e.ip for e in history].count(ip) == 1 for ip in on_network)
               / len(on_network) if event.asn and on_network else math.nan)
    here = [k for k, e in enumerate(history) if e.ip == event.ip]
    if not here:
        return [math.nan, math.nan, math.nan, one_off]
    failed = sum(not history[k].login_successful for k in here)
    earlier = {e.ip for e in history[here[-1] + 1:]} - {event.ip}
    rival_returns = sum(e.ip in earlier for e in history[: here[-1]])
    return [failed / len(here), len(here) / (here[-1] + 1), rival_returns, one_off]


def _reference_builds(event: LoginEvent, own: list[LoginEvent]) -> list[float]:
    if not own or not event.browser or not event.user_agent:
        return [math.nan, math.nan]
    elsewhere = [e for e in own if e.browser == event.browser and e.user_agent != event.user_agent]

    def shape(agent: str) -> tuple[str, list[str]]:
        return re.sub(r"\d+", "#", agent), re.findall(r"\d+", agent)

    text, numbers = shape(event.user_agent)
    changed = [
        sum(a != b for a, b in zip(numbers, shape(e.user_agent)[1], strict=True))
        for e in own
        if e.user_agent not in ("", event.user_agent) and shape(e.user_agent)[0] == text
    ]
    return [len(elsewhere) / len(own), min(changed) if changed else math.nan]


def _reference_device_features(event: LoginEvent, own: list[LoginEvent]) -> list[float]:
    device = event.device_id
    on_device = [e for e in own if device and e.device_id == device]
    if not device or not own:
        shared = math.nan
    elif on_device:
        other_ips = {e.ip for e in own if e.device_id != device}
        shared = sum(e.ip in other_ips for e in on_device) / len(on_device)
    else:
        shared = 0.0
    same_agent = [e for e in own if e.user_agent == event.user_agent]
    other = next((e for e in own if e.device_id != device), None) if device else None
    return [
        len(on_device),
        len(on_device) / len(own) if own and device else math.nan,
        (event.timestamp - on_device[-1].timestamp) / _DAY_S if on_device else math.nan,
        float(any(e.ip == event.ip for e in on_device)),
        shared,
        float(bool(own) and not on_device and not any(e.ip == event.ip for e in own)),
        sum(e.device_id != device for e in same_agent) / len(same_agent)
        if same_agent and device else math.nan,
        (event.timestamp - other.timestamp) / _HOUR_S if other else math.nan,
    ]


def _reference_hours(event: LoginEvent, own: list[LoginEvent]) -> list[float]:
    if len(own) < 3:
        return [math.nan, math.nan]

    def gap(a: float, b: float) -> float:
        g = abs(a - b) % 24
        return min(g, 24 - g)

    hour = event.timestamp % _DAY_S / _HOUR_S
    hours = [e.timestamp % _DAY_S / _HOUR_S for e in own]
    angle = [h / 24 * 2 * math.pi for h in hours]
    mean = math.atan2(sum(map(math.sin, angle)), sum(map(math.cos, angle))) / (2 * math.pi) * 24
    return [gap(hour, mean % 24), sum(gap(hour, h) <= 2 for h in hours) / len(hours)]


def _reference_travel(locator: Locator, event: LoginEvent,
                      own: list[LoginEvent]) -> tuple[float, float]:
    here = locator.locate(event)
    located = list(itertools.islice(
        ((e, p) for e in own if (p := locator.locate(e)) is not None), 3))
    if here is None or not located:
        return math.nan, math.nan
    speeds = [here.clearance_km(there)
              / (max(event.timestamp - past.timestamp, MIN_TRAVEL_GAP_S) / _HOUR_S)
              for past, there in located]
    return here.distance_km(located[0][1]), max(speeds)


def test_a_column_value_or_length_an_agent_would_choke_on_is_refused_up_front() -> None:
    # Columns are decoded late, by the agents that read them: the conversion checks them first.
    past = PastLogin(
        event=LoginEvent(event_id="e", timestamp=100.0, user_id="u", ip="192.0.2.1"),
        action=Action.ALLOW, risk=0.1,
    )
    unknown_action = pb.LoginContext(past_logins=history_to_proto([past]))
    context_from_proto(unknown_action)  # readable as it is
    unknown_action.past_logins.action[0] = 99
    with pytest.raises(InvalidArgument) as refused:
        context_from_proto(unknown_action)
    assert refused.value.field.startswith("context.past_logins.action")

    ragged = pb.LoginContext(past_logins=pb.LoginHistory(timestamp=[1.0, 2.0], ip=["1.2.3.4"]))
    with pytest.raises(InvalidArgument) as refused:
        context_from_proto(ragged)
    assert refused.value.field == "context.past_logins"
