"""Geographic reference for every agent: coarse country locations, hosting networks, and where
a login happened."""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

from aegis_domain.types import LoginEvent

DATA_DIR = Path(__file__).with_name("data")
COUNTRIES_PATH = DATA_DIR / "countries.csv"
HOSTING_ASNS_PATH = DATA_DIR / "hosting_asns.csv"
# The uncertainty of a latitude/longitude given without accuracy_radius_km (city-level IP
# geolocation); the geo agent's setting defaults to it.
DEFAULT_ACCURACY_KM = 50.0
# Shorter gaps between two logins count as this long, so that same-second logins and clock
# skew between edge servers do not divide by almost zero; the geo agent's setting defaults to it.
MIN_TRAVEL_GAP_S = 60.0


@dataclass(frozen=True, slots=True)
class Country:
    """Where a login that carries only this country code may have come from."""

    code: str
    name: str
    latitude: float
    longitude: float
    radius_km: float


def _rows(path: Path) -> list[tuple[int, dict[str, str]]]:
    """(line number, row) of a CSV whose header follows `#` comment lines."""
    numbered = [
        (number, line)
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if line.strip() and not line.startswith("#")
    ]
    reader = csv.DictReader(line for _, line in numbered)
    return [(number, row) for (number, _), row in zip(numbered[1:], reader, strict=True)]


def load_countries(path: Path = COUNTRIES_PATH) -> dict[str, Country]:
    """ISO 3166-1 alpha-2 code -> Country; ValueError names the bad line."""
    countries: dict[str, Country] = {}
    for number, row in _rows(path):
        try:
            country = Country(
                code=row["code"],
                name=row["name"],
                latitude=float(row["lat"]),
                longitude=float(row["lon"]),
                radius_km=float(row["radius_km"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{path}:{number}: {exc}") from exc
        problem = _country_problem(country, countries)
        if problem:
            raise ValueError(f"{path}:{number}: {problem}")
        countries[country.code] = country
    return countries


def _country_problem(country: Country, seen: dict[str, Country]) -> str:
    if not (len(country.code) == 2 and country.code.isascii() and country.code.isupper()):
        return f"{country.code!r} is not an ISO 3166-1 alpha-2 code"
    if country.code in seen:
        return f"duplicate country {country.code}"
    if not (-90 <= country.latitude <= 90 and -180 <= country.longitude <= 180):
        return f"{country.code}: latitude/longitude out of range"
    if not 0 < country.radius_km <= 20_000:
        return f"{country.code}: radius_km must be within (0, 20000]"
    return ""


def load_hosting_asns(path: Path = HOSTING_ASNS_PATH) -> dict[int, str]:
    """ASN -> operator name of cloud, hosting and VPN networks."""
    asns: dict[int, str] = {}
    for number, row in _rows(path):
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
