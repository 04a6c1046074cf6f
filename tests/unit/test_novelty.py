"""The naive per-user novelty baseline on crafted histories."""

from __future__ import annotations

from dataclasses import replace

import pytest

from aegis_domain.types import Action, LoginContext, LoginEvent, PastLogin
from aegis_lab.evaluation.novelty import NO_HISTORY, NoveltyBaseline, ip_prefix

USUAL = LoginEvent(
    event_id="e", timestamp=1_000.0, user_id="alice", ip="203.0.113.7", device_id="laptop",
    country="FR", city="Lyon", asn=3215, user_agent="Mozilla/5.0 (Macintosh) Firefox/120.0",
)
STRANGER = LoginEvent(event_id="x", timestamp=2_000.0, user_id="alice", ip="2001:db8::1",
                      device_id="phone", country="NG", city="Lagos", asn=37_148,
                      user_agent="curl/8.0")


def history(*events: LoginEvent) -> LoginContext:
    return LoginContext(history=[PastLogin(event=e, action=Action.ALLOW, risk=0.0)
                                 for e in events])


def test_a_repeat_of_the_usual_login_is_not_new() -> None:
    again = replace(USUAL, ip="203.0.113.99")  # another address of the same /24
    assert NoveltyBaseline().observe(again, history(USUAL, USUAL)) == 0.0


def test_a_login_new_in_everything_never_seen_by_anyone_scores_highest() -> None:
    assert NoveltyBaseline().observe(STRANGER, history(USUAL)) == 1.0


def test_only_what_the_user_was_seen_with_counts() -> None:
    lyon_then_lagos = history(USUAL, replace(USUAL, country="NG", city="Lagos"))
    assert NoveltyBaseline().observe(replace(USUAL, country="NG", city="Lagos"),
                                     lyon_then_lagos) == 0.0


def test_a_first_login_is_neutral() -> None:
    assert NoveltyBaseline().observe(USUAL, LoginContext()) == NO_HISTORY


def test_news_of_an_attribute_that_often_changes_weighs_less() -> None:
    """Everyone's address changes all the time, nobody's country: once that is seen, a new
    country alone outweighs a new address alone."""
    baseline = NoveltyBaseline()
    for k in range(50):
        moved = replace(USUAL, user_id=f"u{k}", ip=f"198.51.{k}.1")
        baseline.observe(moved, history(replace(USUAL, user_id=f"u{k}")))
    new_address = baseline.observe(replace(USUAL, ip="192.0.2.1"), history(USUAL))
    new_country = baseline.observe(replace(USUAL, country="DE"), history(USUAL))
    assert 0 < new_address < new_country


def test_a_value_new_to_the_user_but_everyday_for_others_weighs_less() -> None:
    def seen_half_on_12345() -> NoveltyBaseline:
        baseline = NoveltyBaseline()
        for k in range(50):
            baseline.observe(replace(USUAL, user_id=f"u{k}", asn=12_345 if k % 2 else 3215),
                             LoginContext())
        return baseline

    common = seen_half_on_12345().observe(replace(USUAL, asn=12_345), history(USUAL))
    rare = seen_half_on_12345().observe(replace(USUAL, asn=54_321), history(USUAL))
    assert 0 < common < rare


def test_ip_prefixes_are_the_provider_neighbourhood() -> None:
    assert ip_prefix("203.0.113.7") == "203.0.113.0/24"
    assert ip_prefix("2001:db8:1:2::5") == "2001:db8:1::/48"
    assert ip_prefix("not an address") == "not an address"


@pytest.mark.parametrize("empty", ["device_id", "user_agent"])
def test_an_attribute_the_login_lacks_is_left_out(empty: str) -> None:
    without = replace(USUAL, **{empty: ""})
    assert NoveltyBaseline().observe(without, history(USUAL)) == 0.0
