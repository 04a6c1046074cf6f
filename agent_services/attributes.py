"""The attributes of a login that agents compare with the user's own logins: a table shared by
the behavior agent (its likelihoods) and the detection agent (its share features), so that
neither builds or imports the other."""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from itertools import repeat
from operator import floordiv, mod, mul
from typing import Any

from aegis_domain.login_history import LoginHistory
from aegis_domain.types import DeviceType, LoginEvent


@functools.lru_cache(maxsize=4096)  # few distinct strings, parsed for every login
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


def _same(value: str) -> str:
    return value


def _asn(asn: int) -> str:
    return str(asn) if asn else ""


def _device_type(value: int) -> str:
    return "" if value == DeviceType.UNSPECIFIED else DeviceType(value).name


def device_key(device_id: str, user_agent: str) -> str:
    """The device a login came from: its fingerprint, or, for a login that carries none (the
    RBA dataset's have none), its full user-agent string, which names one browser build on one
    OS: the user's own phone keeps being their phone, and a look-alike build one version away
    is a new device. "" when neither is known."""
    if device_id:
        return device_id
    return f"ua:{user_agent}" if user_agent else ""


def device_keys(history: LoginHistory) -> Sequence[str]:
    """device_key of each past login, in order (the column itself when every login carries a
    fingerprint: no call per login)."""
    if all(history.device_id):
        return history.device_id
    return list(map(device_key, history.device_id, history.user_agent))


def _hours_of_day(timestamps: Iterable[float]) -> Iterable[float]:
    """Each timestamp's whole hour of the day, as seconds of day 0 (_hour_bucket gives the
    same bucket for it): by maps of C functions, so that counting hours calls _hour_bucket once
    per hour rather than once per login."""
    hours = map(floordiv, map(mod, timestamps, repeat(86_400.0)), repeat(3600.0))
    return map(mul, hours, repeat(3600.0))


@dataclass(frozen=True, slots=True)
class Feature:
    """One feature of a login.

    weight: tempers naive Bayes for correlated features (a new IP usually brings a new ASN,
      country and city: counted in full, one trip would count five times).
    cardinality: how many values an attacker could plausibly show; the uniform prior
      p(value) = 1/cardinality applies when no population model is loaded.
    columns: the login attributes the value is made of (LoginEvent fields, LoginHistory columns).
    of: the value from those attributes' values; "" when unknown.
    coarsen: maps a one-column feature's column to fewer distinct values with the same `of`,
      so that counting a history calls `of` per distinct value only.
    group: what about the login the feature tells (WHERE it came from, HOW: the device, WHEN):
      the features of one group move together (a trip changes the address, network, country
      and city at once), so evidence may be bounded per group.
    """

    name: str
    label: str
    weight: float
    cardinality: int
    columns: tuple[str, ...]
    of: Callable[..., str]
    coarsen: Callable[[Iterable[Any]], Iterable[Any]] | None = None
    group: str = ""

    @property
    def reason_code(self) -> str:
        return f"UNUSUAL_{self.name.upper()}"

    def extract(self, event: LoginEvent) -> str:
        """The event's value of this feature; "" when unknown."""
        return self.of(*(getattr(event, column) for column in self.columns))

    def _of_key(self, key: tuple[Any, ...]) -> str:
        return self.of(*key)

    def counts(self, history: LoginHistory) -> Counter[str]:
        """How many of the past logins show each known value: the raw columns are counted in C,
        and `of` runs once per distinct raw value, not per login."""
        raw_counts: Counter[Any]
        if self.of is _same:
            # The value is the column's own: counted entirely in C.
            return Counter(filter(None, getattr(history, self.columns[0])))
        if len(self.columns) == 1:
            column: Iterable[Any] = getattr(history, self.columns[0])
            if self.coarsen is not None:
                column = self.coarsen(column)
            raw_counts, of = Counter(column), self.of
        else:
            columns = [getattr(history, name) for name in self.columns]
            raw_counts = Counter(zip(*columns, strict=True))
            of = self._of_key
        counts: Counter[str] = Counter()
        for raw, logins in raw_counts.items():
            if value := of(raw):
                counts[value] += logins
        return counts


WHERE, HOW, WHEN = "where", "how", "when"
FEATURES = (
    Feature("ip", "IP", 1.0, 1_000_000, ("ip",), _same, group=WHERE),
    Feature("asn", "ASN", 0.7, 10_000, ("asn",), _asn, group=WHERE),
    Feature("country", "country", 0.5, 200, ("country",), _same, group=WHERE),
    Feature("region", "region", 0.3, 5_000, ("country", "region"), _joined, group=WHERE),
    Feature("city", "city", 0.3, 50_000, ("country", "region", "city"), _joined, group=WHERE),
    Feature("user_agent", "user agent", 1.0, 100_000, ("user_agent",), _same, group=HOW),
    Feature("browser", "browser", 0.5, 50, ("browser",), _family, group=HOW),
    Feature("os", "OS", 0.5, 30, ("os",), _family, group=HOW),
    Feature("device_type", "device type", 0.3, 4, ("device_type",), _device_type, group=HOW),
    Feature("hour", "hour of day", 0.3, 6, ("timestamp",), _hour_bucket, _hours_of_day,
            group=WHEN),
)
CARDINALITIES = {f.name: f.cardinality for f in FEATURES}


def feature_values(event: LoginEvent) -> dict[str, str]:
    """The event's known feature values, keyed as in population.json."""
    return {f.name: value for f in FEATURES if (value := f.extract(event))}
