"""The audit's fast protobuf JSON mapping gives json_format's output exactly (hypothesis,
the same derandomised profile as tests/unit/test_properties.py): records are hashed as it."""

from __future__ import annotations

from collections.abc import Callable

from google.protobuf import json_format
from google.protobuf.message import Message
from hypothesis import given
from hypothesis import strategies as st

from aegis.v1 import audit_pb2
from aegis.v1 import common_pb2 as pb
from audit_service.log.record_json import message_to_dict
from tests.unit.test_properties import int32s, raw_records, texts, uint32s

# Doubles of every kind, NaN and the infinities too: each has its own JSON text.
doubles = st.floats()
histories = st.builds(
    pb.LoginHistory, event_id=st.lists(texts, max_size=2), timestamp=st.lists(doubles, max_size=2),
    asn=st.lists(uint32s, max_size=2), device_type=st.lists(int32s, max_size=2),
    login_successful=st.lists(st.booleans(), max_size=2),
    latitude=st.lists(doubles, max_size=2), action=st.lists(int32s, max_size=2),
)
contexts = st.builds(
    pb.LoginContext, past_logins=histories, history_truncated=st.booleans(),
    asn_users=uint32s,
    neighbors=st.lists(st.builds(pb.Neighbor, link=int32s, user_id=texts, max_risk=doubles),
                       max_size=2),
    velocity=st.builds(pb.Velocity, ip_attempts=uint32s),
)
reviews = st.builds(pb.Review, decision_id=texts, outcome=int32s, action=int32s,
                    reviewer=texts)


def reference(message: Message) -> dict:
    return json_format.MessageToDict(message, preserving_proto_field_name=True)


def outcome(convert: Callable[[], dict]) -> dict | str:
    """The mapping, or the error's text (a Timestamp out of range)."""
    try:
        return convert()
    except json_format.SerializeToJsonError as exc:
        return str(exc)


@given(raw_records(), contexts, st.none() | reviews)
def test_a_record_maps_to_what_json_format_gives(
    request: audit_pb2.RecordRequest, context: pb.LoginContext, review: pb.Review | None,
) -> None:
    record = request.record
    record.context.CopyFrom(context)
    if review is not None:
        record.review.CopyFrom(review)
    assert outcome(lambda: message_to_dict(record)) == outcome(lambda: reference(record))
    without_context = outcome(lambda: message_to_dict(record, skip="context"))
    record.ClearField("context")
    assert without_context == outcome(lambda: reference(record))


def test_nan_and_infinities_are_named() -> None:
    history = pb.LoginHistory(latitude=[float("nan"), float("inf"), -float("inf"), -0.0])
    assert message_to_dict(history) == {"latitude": ["NaN", "Infinity", "-Infinity", -0.0]}
    assert message_to_dict(history) == reference(history)
