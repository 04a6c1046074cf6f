"""How near a login's browser build is to the builds the user logs in with.

A browser update changes its version, in the user-agent string and in the browser the login
service parsed from it, together. An attacker who copied the victim's user agent from an
older capture, or typed it in, sends a string one number away from the victim's, often with
the victim's very browser build: new to this user, yet nearly the user's own. Neither a
share of exact strings (new: like any other browser) nor of browser families (the user's
own) sees that.
"""

from __future__ import annotations

import functools
import math
import re
from itertools import repeat

from aegis_domain.login_history import LoginHistory
from aegis_domain.types import LoginEvent

_NUMBERS = re.compile(r"\d+")


@functools.lru_cache(maxsize=4096)  # few distinct strings, compared for every login
def _shape(user_agent: str) -> tuple[str, tuple[str, ...]]:
    """The text around the numbers, and the numbers."""
    return _NUMBERS.sub("#", user_agent), tuple(_NUMBERS.findall(user_agent))


def numbers_changed(user_agent: str, others: set[str]) -> float:
    """The fewest numbers in which `user_agent` differs from one of `others` with the same
    text around its numbers; math.nan when none has that text."""
    text, numbers = _shape(user_agent)
    fewest = math.nan
    for other in others:
        other_text, other_numbers = _shape(other)
        if other_text == text:
            changed = sum(a != b for a, b in zip(numbers, other_numbers, strict=True))
            fewest = changed if math.isnan(fewest) else min(fewest, changed)
    return fewest


def user_agent_builds(event: LoginEvent, own: LoginHistory) -> list[float]:
    """[share of the user's logins that reported this browser build under another user-agent
    string, the fewest numbers changed from another user agent of theirs]; math.nan without
    logins or without the value. Both leave the login's own string out, so that an attacker's
    second visit (its first one now in the history) still reads as near the user's own."""
    build, agent = event.browser, event.user_agent
    if not own or not build or not agent:
        return [math.nan, math.nan]
    elsewhere = sum(map(_other_string, own.browser, own.user_agent, repeat(build), repeat(agent)))
    return [elsewhere / len(own), numbers_changed(agent, set(own.user_agent) - {"", agent})]


def _other_string(browser: str, user_agent: str, build: str, agent: str) -> bool:
    return browser == build and user_agent != agent
