"""The countries a login may come from (ISO 3166-1 alpha-2, plus XK), with coarse locations:
one table, read by event validation and by the geo agent."""

from __future__ import annotations

import csv
import functools
from dataclasses import dataclass
from pathlib import Path

COUNTRIES_PATH = Path(__file__).with_name("data") / "countries.csv"


@dataclass(frozen=True, slots=True)
class Country:
    """Where a login that carries only this country code may have come from."""

    code: str
    name: str
    latitude: float
    longitude: float
    radius_km: float


def csv_rows(path: Path) -> list[tuple[int, dict[str, str]]]:
    """(line number, row) of a reference CSV whose header follows `#` comment lines."""
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
    for number, row in csv_rows(path):
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


@functools.cache
def country_codes() -> frozenset[str]:
    """Every code a login's country may carry (read once per process)."""
    return frozenset(load_countries())


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
