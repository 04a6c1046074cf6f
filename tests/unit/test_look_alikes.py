"""aegis_lab.evaluation.look_alikes: refused legitimate logins grouped by their facts, beside
the attacks with the same facts."""

from __future__ import annotations

import math

from aegis_lab.evaluation.look_alikes import FACTS, look_alikes, render, signature
from agent_services.detection_features import FEATURE_NAMES


def features(**values: float) -> list[float]:
    """A feature vector with every feature unknown but `values`."""
    vector = [math.nan] * len(FEATURE_NAMES)
    for name, value in values.items():
        vector[FEATURE_NAMES.index(name)] = value
    return vector


# A stolen session replayed far away: the user's browser, a new country, an impossible
# journey through a one-country network, and the right password (the same facts as a first
# login through a VPN the world has not seen yet).
FAR_REPLAY = features(own_logins=40, country_share=0, asn_share=0, user_agent_share=0.5,
                      speed_kmh=5_000, asn_countries=1, login_successful=1)
AT_HOME = features(own_logins=40, country_share=1, asn_share=1, user_agent_share=1,
                   speed_kmh=0, asn_countries=1, login_successful=1)


def test_a_signature_names_each_fact_that_holds_and_an_unknown_feature_holds_none() -> None:
    assert all(signature(FAR_REPLAY))
    unknown = signature(features())
    assert not any(unknown)
    assert len(unknown) == len(FACTS)


def test_only_groups_with_a_refused_legitimate_login_are_kept_with_their_attacks() -> None:
    vectors = [FAR_REPLAY, FAR_REPLAY, FAR_REPLAY, FAR_REPLAY, AT_HOME, AT_HOME]
    attacks = ["", "", "cookie_replay", "cookie_replay", "", "local_lookalike"]
    cases = ["vpn", "travel", "", "", "", ""]
    allowed = [False, True, False, True, True, True]
    groups = look_alikes(vectors, attacks, cases, allowed)
    # At home nothing legitimate was refused: that group is not shown, whatever it let through.
    assert list(groups) == [signature(FAR_REPLAY)]
    group = groups[signature(FAR_REPLAY)]
    assert (group.legitimate, group.attacks) == (2, 2)
    assert dict(group.refused) == {"vpn": 1}
    assert dict(group.let_through) == {"cookie_replay": 1}
    facts, counts = render(groups)
    assert "a country new to the user" in facts and "an impossible journey" in facts
    assert counts.strip() == ("legitimate 2, refused 1 (vpn 1); attacks 2 (cookie_replay 2), "
                              "let through 1")
