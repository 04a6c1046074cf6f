"""Throttled log lines: the first at once, then at most one per interval with a count."""

from __future__ import annotations

import logging

import pytest

from aegis_runtime.logging import Throttled


def test_a_repeated_line_is_logged_once_per_interval_with_the_count_held_back(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [100.0]
    throttled = Throttled(logging.getLogger("test.throttled"), 1.0, clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, logger="test.throttled"):
        for step in (0.0, 0.2, 0.5, 0.9, 1.0, 1.5):
            now[0] = 100.0 + step
            throttled.log(logging.WARNING, "context unavailable", {"code": "UNAVAILABLE"})
        throttled.log(logging.ERROR, "audit record failed", {})
    lines = [(r.getMessage(), r.__dict__["held_back"]) for r in caplog.records]
    assert lines == [
        ("context unavailable", 0),
        ("context unavailable", 3),  # 0.2, 0.5 and 0.9 were held back
        ("audit record failed", 0),  # another message is not held back by the first
    ]
    assert caplog.records[0].__dict__["code"] == "UNAVAILABLE"
