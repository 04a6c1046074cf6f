"""A served context's bytes (audit_service.context_bytes) are exactly the deterministic
serialization of context_to_proto, whatever the encoder memoised before."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aegis_domain.convert import context_to_proto, event_from_proto
from aegis_domain.login_history import LoginHistory
from aegis_domain.types import Action, LinkKind, LoginContext, Neighbor, PastLogin, Velocity
from audit_service.context_bytes import ContextEncoder
from tests.unit.audit_builders import T0, make_record

# A few users and values, so that neighbours repeat across contexts (memo hits), and a bound
# of 8, so that the memo also starts over.
neighbors = st.builds(
    Neighbor,
    link=st.sampled_from(LinkKind),
    user_id=st.sampled_from(["u-1", "u-2", "u-3", ""]),
    logins=st.integers(0, 3),
    failures=st.integers(0, 2),
    flagged=st.integers(0, 1),
    max_risk=st.sampled_from([0.0, -0.0, 0.25, 1.0]) | st.floats(0, 1),
    last_seen=st.sampled_from([T0, T0 + 0.5]) | st.floats(0, 4e9),
)
histories = st.lists(st.integers(0, 5), max_size=4).map(lambda days: LoginHistory.from_logins([
    PastLogin(event_from_proto(make_record(f"d-{i}", ts=T0 - day * 86_400).event),
              Action.ALLOW, 0.1 * day)
    for i, day in enumerate(days)
]))
contexts = st.builds(
    LoginContext,
    history=histories,
    neighbors=st.lists(neighbors, max_size=6),
    velocity=st.builds(Velocity, user_attempts=st.integers(0, 9), ip_attempts=st.integers(0, 9)),
    device_users=st.integers(0, 5),
    asn_users=st.integers(0, 5),
    history_truncated=st.booleans(),
    asn_countries=st.integers(0, 3),
)
ENCODER = ContextEncoder(max_neighbors=8)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(contexts, min_size=1, max_size=4))
def test_a_context_is_encoded_as_context_to_proto_serializes_it(
    served: list[LoginContext],
) -> None:
    for context in served:
        assert ENCODER.encode(context) == context_to_proto(context).SerializeToString(
            deterministic=True
        )
