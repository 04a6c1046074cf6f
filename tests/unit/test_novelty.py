"""The naive per-user novelty baseline on crafted histories."""

from __future__ import annotations

from dataclasses import replace

import pytest

from aegis_domain.types import Action, LoginContext, LoginEvent, PastLogin
from aegis_lab.evaluation.novelty import NO_HISTORY, ip_prefix, novelty

USUAL = LoginEvent(
    event_id="e", timestamp=1_000.0, user_id="alice", ip="203.0.113.7", device_id="laptop",
    country="FR", city="Lyon", asn=3215, user_agent="Mozilla/5.0 (Macintosh) Firefox/120.0",
)


def history(*events: LoginEvent) -> LoginContext:
    return LoginContext(history=[PastLogin(event=e, action=Action.ALLOW, risk=0.0)
                                 for e in events])


def test_a_repeat_of_the_usual_login_is_not_new() -> None:
    again = replace(USUAL, ip="203.0.113.99")  # another address of the same /24
    assert novelty(again, history(USUAL, USUAL)) == 0.0


@pytest.mark.parametrize("change", [
    {"ip": "198.51.100.7"}, {"country": "NG"}, {"user_agent": "curl/8.0"},
])
def test_each_new_attribute_raises_it(change: dict[str, str]) -> None:
    assert novelty(replace(USUAL, **change), history(USUAL)) == pytest.approx(1 / 6)


def test_a_login_new_in_everything_scores_highest() -> None:
    stranger = LoginEvent(event_id="x", timestamp=2_000.0, user_id="alice", ip="2001:db8::1",
                          device_id="phone", country="NG", city="Lagos", asn=37_148,
                          user_agent="curl/8.0")
    assert novelty(stranger, history(USUAL)) == 1.0


def test_only_what_the_user_was_seen_with_counts() -> None:
    lyon_then_lagos = history(USUAL, replace(USUAL, country="NG", city="Lagos"))
    assert novelty(replace(USUAL, country="NG", city="Lagos"), lyon_then_lagos) == 0.0


def test_a_first_login_is_neutral() -> None:
    assert novelty(USUAL, LoginContext()) == NO_HISTORY


def test_ip_prefixes_are_the_provider_neighbourhood() -> None:
    assert ip_prefix("203.0.113.7") == "203.0.113.0/24"
    assert ip_prefix("2001:db8:1:2::5") == "2001:db8:1::/48"
    assert ip_prefix("not an address") == "not an address"
