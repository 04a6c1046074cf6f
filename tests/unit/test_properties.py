"""Properties over hostile input (hypothesis): validation refuses with InvalidArgument or
accepts, never raises anything else; what it accepts converts and encodes without loss."""

from __future__ import annotations

import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aegis.v1 import audit_pb2
from aegis.v1 import common_pb2 as pb
from aegis_domain.convert import (
    context_from_proto,
    context_to_proto,
    event_from_proto,
    event_to_proto,
)
from aegis_domain.countries import country_codes
from aegis_domain.validation import (
    MAX_TIMESTAMP_SECONDS,
    MIN_TIMESTAMP_SECONDS,
    TimeWindow,
    validate_event,
)
from aegis_runtime.errors import InvalidArgument
from audit_service.log.chain import canonical_record, record_from_json, record_to_json
from audit_service.validation import validate_record_request

# Deterministic in CI: the same examples on every run, found again when one fails.
settings.register_profile(
    "aegis", derandomize=True, max_examples=60, deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("aegis")

ANY_TIME = TimeWindow(float(MIN_TIMESTAMP_SECONDS), float(MAX_TIMESTAMP_SECONDS))
# Any text a client can send: protobuf strings are UTF-8, so no lone surrogates.
texts = st.text(st.characters(codec="utf-8"), max_size=40)
int32s = st.integers(-(2**31), 2**31 - 1)
uint32s = st.integers(0, 2**32 - 1)
timestamps = st.builds(Timestamp, seconds=st.integers(-(2**40), 2**40), nanos=int32s)
# Times a float of epoch seconds holds to the microsecond (the domain's precision).
micro_stamps = st.builds(
    Timestamp, seconds=st.integers(0, 4_102_444_800),
    nanos=st.integers(0, 999_999).map(lambda micros: micros * 1000),
)
ids = st.text("abcdefghijklmnopqrstuvwxyz0123456789-_.:", min_size=1, max_size=30)
printable = st.text(st.characters(exclude_categories=("C", "Z")) | st.just(" "), max_size=40)
positions = st.none() | st.tuples(st.floats(-90, 90), st.floats(-180, 180))

# Per field: values a well-behaved client sends, and what a hostile one may send instead.
VALID = {
    "event_id": ids, "user_id": ids, "session_id": ids | st.just(""),
    "device_id": ids | st.just(""), "ip": st.ip_addresses().map(str),
    "country": st.sampled_from(sorted(country_codes())) | st.just(""),
    "region": printable, "city": printable, "user_agent": printable, "browser": printable,
    "os": printable, "asn": uint32s, "device_type": st.integers(0, 3),
    "auth_method": st.integers(0, 3), "failed_attempts_before": st.integers(0, 1000),
    "login_successful": st.booleans(), "timestamp": micro_stamps, "position": positions,
    "round_trip_time_ms": st.none() | st.floats(0, 1e6),
    "accuracy_radius_km": st.none() | st.floats(0, 20_000),
}
HOSTILE = {
    "ip": texts | st.just("fe80::1%eth0") | st.just("1.2.3.4\x00"),
    "country": texts | st.just("N\x00"), "device_type": int32s, "auth_method": int32s,
    "failed_attempts_before": uint32s, "timestamp": timestamps,
    "position": st.tuples(st.floats(), st.floats()) | st.tuples(st.floats(), st.none()),
    "round_trip_time_ms": st.floats(), "accuracy_radius_km": st.floats(),
    "login_successful": st.booleans(), "asn": uint32s,
}


@st.composite
def raw_events(draw: st.DrawFn, max_broken: int = 3) -> pb.LoginEvent:
    """A LoginEvent with up to `max_broken` fields as a hostile client may send them."""
    broken = draw(st.sets(st.sampled_from(sorted(VALID)), max_size=max_broken))
    values = {
        name: draw(HOSTILE.get(name, texts) if name in broken else VALID[name])
        for name in VALID
    }
    position, stamp = values.pop("position"), values.pop("timestamp")
    event = pb.LoginEvent(**{k: v for k, v in values.items() if v is not None})
    event.timestamp.CopyFrom(stamp)
    if position is not None:
        latitude, longitude = position
        event.latitude = latitude
        if longitude is not None:
            event.longitude = longitude
    return event


def refused_or_accepted(event: pb.LoginEvent) -> bool:
    """True when validation accepts; a refusal must be InvalidArgument naming a field."""
    try:
        validate_event(event, ANY_TIME)
    except InvalidArgument as exc:
        assert exc.field.startswith("event.")
        return False
    return True


@given(raw_events())
def test_validation_refuses_with_invalid_argument_or_accepts(event: pb.LoginEvent) -> None:
    if refused_or_accepted(event):
        event_from_proto(event)  # what validation accepts, the agents can read


@given(raw_events(max_broken=0))
def test_an_accepted_event_survives_the_domain_round_trip(event: pb.LoginEvent) -> None:
    assert refused_or_accepted(event)
    assert event_to_proto(event_from_proto(event)) == event


@given(st.lists(raw_events(), max_size=3), st.lists(int32s, max_size=3))
def test_context_conversion_names_an_unknown_enum_or_round_trips(
    events: list[pb.LoginEvent], links: list[int]
) -> None:
    context = pb.LoginContext(
        history=[pb.PastLogin(event=e, action=a % 8) for a, e in enumerate(events)],
        neighbors=[pb.Neighbor(link=link, user_id="u") for link in links],
    )
    try:
        converted = context_from_proto(context)
    except InvalidArgument as exc:
        assert exc.field.startswith(("context.history[", "context.neighbors["))
        assert exc.reason.startswith("unsupported value ")
        return
    assert context_to_proto(converted).neighbors == context.neighbors


signals = st.builds(
    pb.AgentSignal, agent=texts, status=int32s, risk=st.floats(allow_nan=False),
    confidence=st.floats(allow_nan=False), detail=texts, batch_size=uint32s,
    reasons=st.lists(st.builds(pb.Reason, code=texts, message=texts,
                               weight=st.floats(allow_nan=False)), max_size=2),
)


@st.composite
def raw_records(draw: st.DrawFn) -> audit_pb2.RecordRequest:
    decision = pb.Decision(
        decision_id=draw(ids | texts), event_id=draw(texts),
        action=draw(st.integers(1, 4) | int32s),
        risk=draw(st.floats(allow_nan=False)), signals=draw(st.lists(signals, max_size=2)),
        degraded_agents=draw(st.lists(texts, max_size=2)), policy_version=draw(texts),
        model_versions=draw(st.dictionaries(texts, texts, max_size=2)), trace_id=draw(texts),
    )
    decision.decided_at.CopyFrom(draw(micro_stamps | timestamps))
    record = pb.DecisionRecord(decision=decision, event=draw(raw_events(max_broken=1)),
                               environment=draw(texts))
    return audit_pb2.RecordRequest(record=record)


@given(raw_records())
def test_a_record_validation_accepts_is_encoded_and_read_back_unchanged(
    request: audit_pb2.RecordRequest,
) -> None:
    try:
        validate_record_request(request)
    except InvalidArgument as exc:
        assert exc.field.startswith("record")
        return
    canonical_record(request.record)
    assert record_from_json(record_to_json(request.record)) == request.record


@pytest.mark.parametrize("nanos", [-1, 10**9])
def test_a_record_with_a_timestamp_the_log_cannot_print_is_refused(nanos: int) -> None:
    request = audit_pb2.RecordRequest(record=pb.DecisionRecord(
        decision=pb.Decision(decision_id="d", action=pb.ACTION_ALLOW,
                             decided_at=Timestamp(seconds=1, nanos=nanos)),
    ))
    with pytest.raises(InvalidArgument) as caught:
        validate_record_request(request)
    assert caught.value.field == "record.decision.decided_at"
