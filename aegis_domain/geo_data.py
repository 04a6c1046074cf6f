"""Reference tables of the geo agent: coarse country locations and hosting networks."""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

DATA_DIR = Path(__file__).with_name("data")
COUNTRIES_PATH = DATA_DIR / "countries.csv"
HOSTING_ASNS_PATH = DATA_DIR / "hosting_asns.csv"


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
