"""The shifted family's geography: countries, cities, networks and browsers that the training
generator (aegis_lab.world) never uses, so that a model cannot have learnt them by heart."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from aegis.v1 import common_pb2 as pb


@dataclass(frozen=True, slots=True)
class Place:
    city: str
    region: str
    country: str
    latitude: float
    longitude: float


@dataclass(frozen=True, slots=True)
class Net:
    """One autonomous system's block, located at `place`."""

    asn: int
    block: ipaddress.IPv4Network
    place: Place

    def address(self, n: int) -> str:
        return str(self.block.network_address + 1 + n % (self.block.num_addresses - 2))


@dataclass(frozen=True, slots=True)
class Land:
    code: str
    utc_offset_h: float
    places: tuple[Place, ...]
    isps: tuple[Net, ...]  # residential
    carrier: Net  # the mobile carrier's NAT pool: every subscriber shares these addresses
    offices: Net  # corporate egress


@dataclass(frozen=True, slots=True)
class Browser:
    user_agent: str
    browser: str
    os: str
    device_type: pb.DeviceType.ValueType


def _land(code: str, offset: float, places: list[tuple[str, str, float, float]],
          isps: list[tuple[int, str]], carrier: tuple[int, str], offices: tuple[int, str]) -> Land:
    located = tuple(Place(name, region, code, lat, lon) for name, region, lat, lon in places)
    capital = located[0]

    def net(asn: int, block: str) -> Net:
        return Net(asn, ipaddress.IPv4Network(block), capital)

    return Land(code, offset, located, tuple(net(a, b) for a, b in isps), net(*carrier),
                net(*offices))


# Where this family's users live. Carrier pools are /27: thirty addresses for a country's
# subscribers, so sharing is far denser than in the training worlds.
HOME_LANDS = (
    _land("FI", 2, [("Helsinki", "Uusimaa", 60.17, 24.94), ("Tampere", "Pirkanmaa", 61.50, 23.79),
                    ("Oulu", "North Ostrobothnia", 65.01, 25.47)],
          [(719, "62.78.0.0/16"), (16086, "85.76.0.0/16")], (1759, "91.152.3.0/27"),
          (719, "212.50.0.0/20")),
    _land("DK", 1, [("Copenhagen", "Capital Region", 55.68, 12.57),
                    ("Aarhus", "Central Jutland", 56.16, 10.20)],
          [(3292, "80.62.0.0/16"), (9158, "87.116.0.0/16")], (44869, "89.239.2.0/27"),
          (3292, "217.157.0.0/20")),
    _land("CA", -5, [("Toronto", "Ontario", 43.65, -79.38), ("Montreal", "Quebec", 45.50, -73.57),
                     ("Vancouver", "British Columbia", 49.28, -123.12)],
          [(577, "64.228.0.0/16"), (812, "99.224.0.0/16")], (852, "142.198.7.0/27"),
          (577, "24.48.0.0/20")),
    _land("AU", 10, [("Sydney", "New South Wales", -33.87, 151.21),
                     ("Melbourne", "Victoria", -37.81, 144.96), ("Perth", "Western Australia",
                                                                  -31.95, 115.86)],
          [(1221, "101.160.0.0/16"), (7545, "120.144.0.0/16")], (4804, "1.144.9.0/27"),
          (1221, "139.130.0.0/20")),
    _land("CZ", 1, [("Prague", "Prague", 50.08, 14.44), ("Brno", "South Moravia", 49.20, 16.61)],
          [(5610, "109.80.0.0/16"), (16019, "176.74.0.0/16")], (16019, "178.255.4.0/27"),
          (5610, "62.24.64.0/20")),
)
# Where people go on holiday and business.
TRAVEL_LANDS = (
    _land("PT", 0, [("Lisbon", "Lisbon", 38.72, -9.14), ("Porto", "Porto", 41.15, -8.61)],
          [(3243, "85.240.0.0/16")], (12353, "89.152.5.0/27"), (3243, "213.13.0.0/20")),
    _land("GR", 2, [("Athens", "Attica", 37.98, 23.73)],
          [(1241, "94.64.0.0/16")], (29247, "94.66.8.0/27"), (1241, "212.205.0.0/20")),
    _land("MX", -6, [("Mexico City", "CDMX", 19.43, -99.13), ("Cancun", "Quintana Roo", 21.16,
                                                               -86.85)],
          [(8151, "187.188.0.0/16")], (28403, "189.203.1.0/27"), (8151, "200.66.0.0/20")),
    _land("KR", 9, [("Seoul", "Seoul", 37.57, 126.98)],
          [(4766, "121.128.0.0/16")], (9644, "175.223.2.0/27"), (4766, "211.234.0.0/20")),
    _land("ZA", 2, [("Cape Town", "Western Cape", -33.92, 18.42)],
          [(37457, "41.112.0.0/16")], (29975, "41.150.6.0/27"), (37457, "196.25.0.0/20")),
)
# Where attackers who do not hide sit.
ATTACKER_LANDS = (
    _land("ID", 7, [("Jakarta", "Jakarta", -6.21, 106.85)],
          [(7713, "36.64.0.0/16")], (23693, "114.124.3.0/27"), (7713, "202.134.0.0/20")),
    _land("PK", 5, [("Karachi", "Sindh", 24.86, 67.01)],
          [(17557, "39.32.0.0/16")], (45669, "111.88.4.0/27"), (17557, "203.99.0.0/20")),
    _land("KZ", 5, [("Almaty", "Almaty", 43.24, 76.89)],
          [(9198, "37.150.0.0/16")], (21299, "2.133.7.0/27"), (9198, "92.46.0.0/20")),
    _land("UA", 2, [("Kyiv", "Kyiv", 50.45, 30.52)],
          [(15895, "93.72.0.0/16")], (21497, "176.36.2.0/27"), (15895, "193.41.0.0/20")),
)
ALL_LANDS = HOME_LANDS + TRAVEL_LANDS + ATTACKER_LANDS

# Data centres and a VPN provider that are in no list the agents read (hosting_asns.csv).
_DC = Place("Vienna", "Vienna", "AT", 48.21, 16.37)
HOSTING = (
    Net(47583, ipaddress.IPv4Network("145.14.144.0/20"), Place("Vilnius", "Vilnius", "LT",
                                                                54.69, 25.28)),
    Net(60781, ipaddress.IPv4Network("212.32.224.0/20"), _DC),
    Net(8560, ipaddress.IPv4Network("217.160.0.0/20"), Place("Karlsruhe", "Baden-Wurttemberg",
                                                              "DE", 49.01, 8.40)),
    Net(12876, ipaddress.IPv4Network("163.172.0.0/20"), Place("Paris", "Ile-de-France", "FR",
                                                               48.86, 2.35)),
)
VPN_EXITS = (
    Net(136787, ipaddress.IPv4Network("156.146.60.0/26"), _DC),
    Net(136787, ipaddress.IPv4Network("156.146.61.0/26"), HOME_LANDS[0].places[0]),
    Net(136787, ipaddress.IPv4Network("156.146.62.0/26"), HOME_LANDS[2].places[0]),
    Net(136787, ipaddress.IPv4Network("156.146.63.0/26"), TRAVEL_LANDS[3].places[0]),
)

_D, _M, _T = pb.DEVICE_TYPE_DESKTOP, pb.DEVICE_TYPE_MOBILE, pb.DEVICE_TYPE_TABLET
_KHTML = "AppleWebKit/537.36 (KHTML, like Gecko)"


def chrome(version: str, os_part: str = "Windows NT 10.0; Win64; x64",
           os: str = "Windows 11") -> Browser:
    """A desktop Chrome of `version` (a full build: "126.0.6478.126")."""
    return Browser(f"Mozilla/5.0 ({os_part}) {_KHTML} Chrome/{version} Safari/537.36",
                   f"Chrome {version.rsplit('.', 1)[0]}", os, _D)


DESKTOPS = (
    chrome("126.0.6478.126"),
    chrome("125.0.6422.142", "X11; Linux x86_64", "Linux"),
    Browser("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0",
            "Firefox 128.0", "Windows 11", _D),
    Browser("Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like "
            "Gecko) Version/17.5 Safari/605.1.15", "Safari 17.5", "Mac OS X 14.5", _D),
    Browser(f"Mozilla/5.0 (Windows NT 10.0; Win64; x64) {_KHTML} Chrome/126.0.0.0 "
            "Safari/537.36 Edg/126.0.2592.87", "Edge 126.0.2592", "Windows 11", _D),
)
PHONES = (
    Browser("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
            "like Gecko) Version/17.5 Mobile/15E148 Safari/604.1", "Mobile Safari 17.5",
            "iOS 17.5", _M),
    Browser(f"Mozilla/5.0 (Linux; Android 14; Pixel 7a) {_KHTML} Chrome/126.0.6478.122 Mobile "
            "Safari/537.36", "Chrome Mobile 126.0.6478", "Android 14", _M),
    Browser(f"Mozilla/5.0 (Linux; Android 14; SM-S918B) {_KHTML} SamsungBrowser/25.0 "
            "Chrome/121.0.0.0 Mobile Safari/537.36", "Samsung Internet 25.0", "Android 14", _M),
    Browser(f"Mozilla/5.0 (Linux; Android 13; moto g54) {_KHTML} Chrome/125.0.6422.165 Mobile "
            "Safari/537.36", "Chrome Mobile 125.0.6422", "Android 13", _M),
)
TABLETS = (
    Browser("Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
            "Gecko) Version/17.5 Mobile/15E148 Safari/604.1", "Mobile Safari 17.5", "iOS 17.5",
            _T),
)
# Phones a user replaces theirs with: newer than any in PHONES.
NEW_PHONES = (
    Browser("Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
            "like Gecko) Version/18.0 Mobile/15E148 Safari/604.1", "Mobile Safari 18.0",
            "iOS 18.0", _M),
    Browser(f"Mozilla/5.0 (Linux; Android 15; Pixel 9) {_KHTML} Chrome/129.0.6668.70 Mobile "
            "Safari/537.36", "Chrome Mobile 129.0.6668", "Android 15", _M),
)


def lookalike(browser: Browser) -> Browser:
    """The same browser one build away (the user agent's last number bumped): what an attacker
    who copied the victim's user agent from an older capture sends."""
    *_, last = _NUMBER.finditer(browser.user_agent)
    ua = browser.user_agent
    bumped = ua[: last.start()] + str(int(last.group()) + 1) + ua[last.end():]
    return Browser(bumped, browser.browser, browser.os, browser.device_type)


_NUMBER = re.compile(r"\d+")
