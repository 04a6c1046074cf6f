"""A history row read straight from the index's event JSON is the row the context cache
builds from the event itself (login_history.column_row)."""

from __future__ import annotations

import json
import math
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from aegis_domain.login_history import column_row
from aegis_domain.types import Action, AuthMethod, DeviceType, LoginEvent, PastLogin
from audit_service.index_rows import event_from_json, event_to_json, history_columns_from_json

_TEXT = st.text(max_size=8)
_OPTIONAL = st.none() | st.floats(allow_nan=False, allow_infinity=False)

events = st.builds(
    LoginEvent,
    event_id=_TEXT, timestamp=st.floats(0, 4e9), user_id=_TEXT, ip=_TEXT, session_id=_TEXT,
    device_id=_TEXT, country=_TEXT, region=_TEXT, city=_TEXT, asn=st.integers(0, 2**32),
    user_agent=_TEXT, browser=_TEXT, os=_TEXT, device_type=st.sampled_from(DeviceType),
    login_successful=st.booleans(), round_trip_time_ms=_OPTIONAL,
    auth_method=st.sampled_from(AuthMethod), failed_attempts_before=st.integers(0, 100),
    latitude=_OPTIONAL, longitude=_OPTIONAL, accuracy_radius_km=_OPTIONAL,
)


def same(a: tuple[Any, ...], b: tuple[Any, ...]) -> bool:
    """Equal entry by entry, of the same types, NaN equal to NaN."""
    return len(a) == len(b) and all(
        type(x) is type(y) and (x == y or (isinstance(x, float) and math.isnan(x)
                                           and math.isnan(y)))
        for x, y in zip(a, b, strict=True)
    )


@given(events, st.sampled_from(Action), st.floats(0, 1))
def test_columns_from_json_are_the_events(event: LoginEvent, action: Action, risk: float) -> None:
    text = event_to_json(event)
    expected = column_row(PastLogin(event_from_json(text), action, risk))
    assert same(history_columns_from_json(text, int(action), risk), expected)


def test_a_row_without_a_newer_field_gets_the_events_default() -> None:
    stored = json.loads(event_to_json(LoginEvent("e-1", 1.0, "alice", "192.0.2.1",
                                                 accuracy_radius_km=5.0)))
    del stored["accuracy_radius_km"]
    text = json.dumps(stored)
    expected = column_row(PastLogin(event_from_json(text), Action.ALLOW, 0.25))
    assert same(history_columns_from_json(text, int(Action.ALLOW), 0.25), expected)
