"""Geographic reference for every agent: hosting networks, distances, and where a login
happened (the countries themselves: aegis_domain.countries)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from aegis_domain.countries import csv_rows, load_countries
from aegis_domain.login_history import LoginHistory
from aegis_domain.types import LoginEvent

HOSTING_ASNS_PATH = Path(__file__).with_name("data") / "hosting_asns.csv"
# The uncertainty of a latitude/longitude given without accuracy_radius_km (city-level IP
# geolocation); the geo agent's setting defaults to it.
DEFAULT_ACCURACY_KM = 50.0
# Shorter gaps between two logins count as this long, so that same-second logins and clock
# skew between edge servers do not divide by almost zero; the geo agent's setting defaults to it.
MIN_TRAVEL_GAP_S = 60.0


def load_hosting_asns(path: Path = HOSTING_ASNS_PATH) -> dict[int, str]:
    """ASN -> operator name of cloud, hosting and VPN networks."""
    asns: dict[int, str] = {}
    for number, row in csv_rows(path):
        try:
            asns[int(row["asn"])] = row["name"]
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{path}:{number}: {exc}") from exc
    return asns


EARTH_RADIUS_KM = 6371.0088  # the IUGG mean radius


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance between two points given in decimal degrees."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    half_dphi = (phi2 - phi1) / 2
    half_dlambda = math.radians(lon2 - lon1) / 2
    h = math.sin(half_dphi) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(half_dlambda) ** 2
    # min(): rounding can push h a hair above 1 for antipodal points.
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


@dataclass(frozen=True, slots=True)
class Position:
    """A login's location: a circle of `radius_km` around a point."""

    latitude: float
    longitude: float
    radius_km: float
    place: str

    def distance_km(self, other: Position) -> float:
        return haversine_km(self.latitude, self.longitude, other.latitude, other.longitude)

    def clearance_km(self, other: Position) -> float:
        """The least distance between the two circles: what travel must at least cover."""
        return max(0.0, self.distance_km(other) - self.radius_km - other.radius_km)


class Locator:
    """Places logins: read-only tables, so one per process serves every request."""

    def __init__(self, default_accuracy_km: float = DEFAULT_ACCURACY_KM) -> None:
        self.default_accuracy_km = default_accuracy_km
        self.countries = load_countries()

    def locate(self, event: LoginEvent) -> Position | None:
        """Precise when the event carries latitude/longitude, else its country's circle."""
        return self.place(event.latitude, event.longitude, event.accuracy_radius_km, event.country)

    def place(
        self, latitude: float | None, longitude: float | None, radius_km: float | None,
        country: str,
    ) -> Position | None:
        """`locate` from the login's raw values."""
        if latitude is not None and longitude is not None:
            return Position(
                latitude,
                longitude,
                self.default_accuracy_km if radius_km is None else radius_km,
                f"{latitude:.2f}, {longitude:.2f}" + (f" ({country})" if country else ""),
            )
        known = self.countries.get(country)
        if known is None:
            return None
        return Position(
            known.latitude, known.longitude, known.radius_km, f"{known.name} (country only)"
        )

    def located(self, history: LoginHistory) -> Iterator[tuple[float, Position]]:
        """(timestamp, position) of the history's logins that have one, most recent first:
        lazily, so that a caller comparing the latest few reads only those."""
        rows = zip(history.timestamp, history.latitude, history.longitude,
                   history.accuracy_radius_km, history.country, strict=True)
        for timestamp, latitude, longitude, radius_km, country in rows:
            position = self.place(
                _known(latitude), _known(longitude), _known(radius_km), country
            )
            if position is not None:
                yield timestamp, position


def _known(value: float) -> float | None:
    """A history column's NaN is a LoginEvent's None."""
    return None if math.isnan(value) else value
