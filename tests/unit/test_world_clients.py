"""How the training world's user agents change: a browser's update moves its version in the
string and the parsed browser together; an attacker's near copy is one number off."""

from __future__ import annotations

import random
import re

import pytest

from aegis_lab.world.clients import near_copy, updated
from aegis_lab.world.places import DESKTOP_CLIENTS, MOBILE_CLIENTS, Client

_NUMBERS = re.compile(r"\d+")


@pytest.mark.parametrize("client", DESKTOP_CLIENTS + MOBILE_CLIENTS,
                         ids=lambda c: c.browser)
def test_an_update_moves_the_major_version_in_the_string_and_the_browser(client: Client) -> None:
    new = updated(client)
    major = int(_NUMBERS.findall(client.browser)[0])
    assert int(_NUMBERS.findall(new.browser)[0]) == major + 1
    assert new.user_agent != client.user_agent and f"{major + 1}." in new.user_agent
    assert _NUMBERS.sub("#", new.user_agent) == _NUMBERS.sub("#", client.user_agent)
    assert (new.os, new.device_type) == (client.os, client.device_type)


@pytest.mark.parametrize("seed", range(20))
def test_a_near_copy_is_the_same_string_with_one_number_off(seed: int) -> None:
    rng = random.Random(seed)
    client = rng.choice(DESKTOP_CLIENTS + MOBILE_CLIENTS)
    copy = near_copy(client, rng)
    old, new = _NUMBERS.findall(client.user_agent), _NUMBERS.findall(copy.user_agent)
    assert _NUMBERS.sub("#", copy.user_agent) == _NUMBERS.sub("#", client.user_agent)
    assert sum(a != b for a, b in zip(old, new, strict=True)) == 1
    assert copy.browser == client.browser
