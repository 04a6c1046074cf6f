"""How a device's user agent changes: a browser's own update, or an attacker's near copy."""

from __future__ import annotations

import random
import re
from dataclasses import replace

from aegis_lab.world.places import Client

_NUMBER = re.compile(r"\d+")


def updated(client: Client) -> Client:
    """The next major version of the client's browser: the version moves in the user-agent
    string (after a "/" or ":", as in "Chrome/120.0" and "rv:121.0") and in the parsed
    browser together, the rest of the string stays."""
    major = _NUMBER.search(client.browser)
    if major is None:
        return client
    version = major.group()
    after = str(int(version) + 1)
    user_agent = re.sub(rf"(?<=[/:]){version}(?=\.)", after, client.user_agent)
    if user_agent == client.user_agent:
        return client
    browser = client.browser[: major.start()] + after + client.browser[major.end():]
    return replace(client, user_agent=user_agent, browser=browser)


def near_copy(client: Client, rng: random.Random) -> Client:
    """The client's user agent with one of its numbers a little off, the parsed browser
    unchanged: what an attacker sends who copied the string from an old capture or by hand."""
    numbers = list(_NUMBER.finditer(client.user_agent))
    if not numbers:
        return client
    number = rng.choice(numbers)
    value, off = int(number.group()), rng.randint(1, 3)
    value = value - off if value >= off and rng.random() < 0.5 else value + off
    ua = client.user_agent
    return replace(client, user_agent=ua[: number.start()] + str(value) + ua[number.end():])
