"""Reference tables of the geo agent: hosting networks (countries: aegis_domain.countries)."""

from __future__ import annotations

import math
from pathlib import Path

from aegis_domain.countries import csv_rows

HOSTING_ASNS_PATH = Path(__file__).with_name("data") / "hosting_asns.csv"


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
