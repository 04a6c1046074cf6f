"""The attributes of a login that agents compare with the user's own logins: a table shared by
the behavior agent (its likelihoods) and the detection agent (its share features), so that
neither builds or imports the other."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from operator import attrgetter

from aegis_domain.types import DeviceType, LoginEvent


@functools.lru_cache(maxsize=4096)  # few distinct strings, parsed for every past login
def _family(name_and_version: str) -> str:
    """The name without its version ("Chrome Mobile 79.0" -> "Chrome Mobile"): versions
    change with every update, the family does not."""
    words = []
    for word in name_and_version.split():
        if word[0].isdigit():
            break
        words.append(word)
    return " ".join(words)


def _hour_bucket(timestamp: float) -> str:
    # UTC, as the user's time zone is unknown; a habit is still a habit in UTC.
    start = int(timestamp % 86_400 // 3600) // 4 * 4
    return f"{start:02d}-{start + 4:02d} UTC"


def _joined(*parts: str) -> str:
    """A place key ("FR/IDF/Paris") so that Paris, Texas is not Paris, France; "" if unknown."""
    return "/".join(parts) if parts[-1] else ""


@dataclass(frozen=True, slots=True)
class Feature:
    """One feature of a login.

    weight: tempers naive Bayes for correlated features (a new IP usually brings a new ASN,
      country and city: counted in full, one trip would count five times).
    cardinality: how many values an attacker could plausibly show; the uniform prior
      p(value) = 1/cardinality applies when no population model is loaded.
    extract: the value of a login; attrgetter where it is a plain field, since agents map it
      over every past login of a context (in C, not a Python call per login).
    """

    name: str
    label: str
    weight: float
    cardinality: int
    extract: Callable[[LoginEvent], str]

    @property
    def reason_code(self) -> str:
        return f"UNUSUAL_{self.name.upper()}"


FEATURES = (
    Feature("ip", "IP", 1.0, 1_000_000, attrgetter("ip")),
    Feature("asn", "ASN", 0.7, 10_000, lambda e: str(e.asn) if e.asn else ""),
    Feature("country", "country", 0.5, 200, attrgetter("country")),
    Feature("region", "region", 0.3, 5_000, lambda e: _joined(e.country, e.region)),
    Feature("city", "city", 0.3, 50_000, lambda e: _joined(e.country, e.region, e.city)),
    Feature("user_agent", "user agent", 1.0, 100_000, attrgetter("user_agent")),
    Feature("browser", "browser", 0.5, 50, lambda e: _family(e.browser)),
    Feature("os", "OS", 0.5, 30, lambda e: _family(e.os)),
    Feature(
        "device_type",
        "device type",
        0.3,
        4,
        lambda e: "" if e.device_type is DeviceType.UNSPECIFIED else e.device_type.name,
    ),
    Feature("hour", "hour of day", 0.3, 6, lambda e: _hour_bucket(e.timestamp)),
)
CARDINALITIES = {f.name: f.cardinality for f in FEATURES}


def feature_values(event: LoginEvent) -> dict[str, str]:
    """The event's known feature values, keyed as in population.json."""
    return {f.name: value for f in FEATURES if (value := f.extract(event))}
