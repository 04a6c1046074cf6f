"""Geographic reference for every agent: hosting networks, distances, and where a login
happened (the countries themselves: aegis_domain.countries)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from aegis_domain.countries import csv_rows, load_countries
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
        if event.latitude is not None and event.longitude is not None:
            radius = event.accuracy_radius_km
            return Position(
                event.latitude,
                event.longitude,
                self.default_accuracy_km if radius is None else radius,
                f"{event.latitude:.2f}, {event.longitude:.2f}"
                + (f" ({event.country})" if event.country else ""),
            )
        country = self.countries.get(event.country)
        if country is None:
            return None
        return Position(
            country.latitude, country.longitude, country.radius_km, f"{country.name} (country only)"
        )
