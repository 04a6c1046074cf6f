"""The fixed geography of the world: countries, cities, networks by kind, and user agents;
and each world's own unlisted VPN."""

from __future__ import annotations

import enum
import functools
import ipaddress
import random
from dataclasses import dataclass

from aegis.v1 import common_pb2 as pb


class NetworkKind(enum.Enum):
    """How people reach the internet through a network, which decides how addresses are shared.

    RESIDENTIAL: one address per home, stable for weeks. MOBILE: carrier-grade NAT, a small pool
    of addresses shared by every subscriber. BUSINESS: corporate egress, a handful of addresses
    per company. HOSTING: rented servers. VPN: a consumer VPN's exits, shared by its users.
    """

    RESIDENTIAL = "residential"
    MOBILE = "mobile"
    BUSINESS = "business"
    HOSTING = "hosting"
    VPN = "vpn"


@dataclass(frozen=True, slots=True)
class City:
    name: str
    region: str
    country: str
    latitude: float
    longitude: float


@dataclass(frozen=True, slots=True)
class Network:
    """An autonomous system's address block of one kind, in one place."""

    asn: int
    kind: NetworkKind
    block: ipaddress.IPv4Network
    city: City

    def address(self, offset: int) -> str:
        """The address at `offset` inside the block (wrapped), never the network or broadcast."""
        usable = self.block.num_addresses - 2
        return str(self.block.network_address + 1 + offset % usable)

    @property
    def size(self) -> int:
        return self.block.num_addresses - 2


@dataclass(frozen=True, slots=True)
class Client:
    """What a device reports: its user agent, parsed as the RBA dataset parses it."""

    user_agent: str
    browser: str
    os: str
    device_type: pb.DeviceType.ValueType


@dataclass(frozen=True, slots=True)
class Country:
    code: str
    # Share of the user population living there (0 for places people only travel to).
    weight: float
    # Hours from UTC (no daylight saving: a modest world).
    utc_offset_h: float
    cities: tuple[City, ...]
    residential: tuple[Network, ...]
    mobile: Network
    business: Network


def _block(text: str) -> ipaddress.IPv4Network:
    return ipaddress.IPv4Network(text)


def _country(
    code: str, weight: float, offset: float, cities: list[tuple[str, str, float, float]],
    residential: list[tuple[int, str]], mobile: tuple[int, str], business: tuple[int, str],
) -> Country:
    places = tuple(City(name, region, code, lat, lon) for name, region, lat, lon in cities)
    capital = places[0]
    return Country(
        code, weight, offset, places,
        tuple(Network(asn, NetworkKind.RESIDENTIAL, _block(b), capital) for asn, b in residential),
        Network(mobile[0], NetworkKind.MOBILE, _block(mobile[1]), capital),
        Network(business[0], NetworkKind.BUSINESS, _block(business[1]), capital),
    )


# Mostly Norwegian users like the RBA dataset's service, some abroad; the zero-weight
# countries are where people travel and where attackers sit. Mobile blocks are /24 NAT pools.
COUNTRIES = (
    _country("NO", 0.40, 1, [
        ("Oslo", "Oslo County", 59.91, 10.75), ("Bergen", "Vestland", 60.39, 5.32),
        ("Stavanger", "Rogaland", 58.97, 5.73), ("Trondheim", "Trondelag", 63.43, 10.40),
    ], [(29695, "81.166.0.0/16"), (2119, "84.208.0.0/14"), (41164, "46.212.0.0/16")],
        (12929, "37.191.16.0/24"), (2119, "193.69.0.0/20")),
    _country("US", 0.20, -5, [
        ("New York", "New York", 40.71, -74.01), ("Chicago", "Illinois", 41.88, -87.63),
        ("Austin", "Texas", 30.27, -97.74),
    ], [(7922, "73.0.0.0/12"), (701, "71.160.0.0/12")],
        (21928, "172.56.10.0/24"), (701, "208.44.0.0/20")),
    _country("DE", 0.10, 1, [
        ("Berlin", "Berlin", 52.52, 13.40), ("Munich", "Bavaria", 48.14, 11.58),
        ("Hamburg", "Hamburg", 53.55, 9.99),
    ], [(3320, "91.0.0.0/12")], (3209, "94.134.90.0/24"), (3320, "194.25.0.0/20")),
    _country("GB", 0.10, 0, [
        ("London", "England", 51.51, -0.13), ("Manchester", "England", 53.48, -2.24),
    ], [(2856, "86.128.0.0/12")], (12576, "2.24.70.0/24"), (2856, "194.72.0.0/20")),
    _country("PL", 0.08, 1, [
        ("Warsaw", "Mazovia", 52.23, 21.01), ("Krakow", "Lesser Poland", 50.06, 19.94),
    ], [(5617, "83.0.0.0/13")], (39603, "5.173.40.0/24"), (5617, "195.116.0.0/20")),
    _country("BR", 0.07, -3, [
        ("Sao Paulo", "Sao Paulo", -23.55, -46.63), ("Recife", "Pernambuco", -8.05, -34.88),
    ], [(28573, "177.32.0.0/12")], (26599, "177.79.8.0/24"), (28573, "200.150.0.0/20")),
    _country("IN", 0.05, 5.5, [
        ("Mumbai", "Maharashtra", 19.08, 72.88), ("Bengaluru", "Karnataka", 12.97, 77.59),
    ], [(24560, "122.160.0.0/12")], (55836, "49.36.12.0/24"), (24560, "125.16.0.0/20")),
    _country("ES", 0.0, 1, [("Madrid", "Madrid", 40.42, -3.70),
                            ("Barcelona", "Catalonia", 41.39, 2.17)],
             [(3352, "83.32.0.0/11")], (12430, "31.4.200.0/24"), (3352, "195.53.0.0/20")),
    _country("FR", 0.0, 1, [("Paris", "Ile-de-France", 48.86, 2.35),
                            ("Nice", "Provence", 43.70, 7.27)],
             [(3215, "90.0.0.0/11")], (51207, "37.166.30.0/24"), (3215, "193.252.0.0/20")),
    _country("IT", 0.0, 1, [("Rome", "Lazio", 41.90, 12.50)],
             [(3269, "79.0.0.0/11")], (30722, "5.90.60.0/24"), (3269, "151.99.0.0/20")),
    _country("TH", 0.0, 7, [("Bangkok", "Bangkok", 13.76, 100.50)],
             [(7470, "110.168.0.0/13")], (131445, "223.24.60.0/24"), (7470, "203.144.0.0/20")),
    _country("JP", 0.0, 9, [("Tokyo", "Tokyo", 35.68, 139.69)],
             [(4713, "153.128.0.0/10")], (2516, "106.128.10.0/24"), (4713, "210.160.0.0/20")),
    _country("RU", 0.0, 3, [("Moscow", "Moscow", 55.76, 37.62)],
             [(12389, "95.24.0.0/13")], (8359, "83.149.20.0/24"), (12389, "213.59.0.0/20")),
    _country("VN", 0.0, 7, [("Hanoi", "Hanoi", 21.03, 105.85)],
             [(45899, "113.160.0.0/11")], (7552, "27.64.10.0/24"), (45899, "203.162.0.0/20")),
    _country("NG", 0.0, 1, [("Lagos", "Lagos", 6.52, 3.38)],
             [(29465, "105.112.0.0/12")], (36873, "102.89.10.0/24"), (29465, "197.210.0.0/20")),
    _country("RO", 0.0, 2, [("Bucharest", "Bucuresti", 44.43, 26.10)],
             [(8708, "86.120.0.0/13")], (12302, "89.136.40.0/24"), (8708, "193.226.0.0/20")),
)
BY_CODE = {country.code: country for country in COUNTRIES}
HOMES = tuple(country for country in COUNTRIES if country.weight > 0)
# Where attackers without a reason to hide their origin come from.
ATTACKER_COUNTRIES = tuple(BY_CODE[code] for code in ("RU", "VN", "NG", "RO", "BR", "IN"))


def _city(code: str, index: int = 0) -> City:
    return BY_CODE[code].cities[index]


_AMSTERDAM = City("Amsterdam", "North Holland", "NL", 52.37, 4.90)
_FRANKFURT = City("Frankfurt", "Hesse", "DE", 50.11, 8.68)
_STOCKHOLM = City("Stockholm", "Stockholm", "SE", 59.33, 18.07)
_ASHBURN = City("Ashburn", "Virginia", "US", 39.04, -77.49)

# Rented servers: the ASNs are those of aegis_domain/data/hosting_asns.csv.
HOSTING = (
    Network(14061, NetworkKind.HOSTING, _block("188.166.0.0/16"), _AMSTERDAM),
    Network(9009, NetworkKind.HOSTING, _block("185.107.0.0/16"), _city("RO")),
    Network(16276, NetworkKind.HOSTING, _block("51.68.0.0/16"),
            City("Roubaix", "Hauts-de-France", "FR", 50.69, 3.17)),
    Network(16509, NetworkKind.HOSTING, _block("3.80.0.0/12"), _ASHBURN),
    Network(24940, NetworkKind.HOSTING, _block("88.198.0.0/16"), _FRANKFURT),
    Network(20473, NetworkKind.HOSTING, _block("45.76.0.0/16"), _city("JP")),
)

# A consumer VPN's exits (on hosting ASNs, as real ones are): /26 pools shared by its users.
VPN_EXITS = (
    Network(9009, NetworkKind.VPN, _block("37.120.200.0/26"), _AMSTERDAM),
    Network(9009, NetworkKind.VPN, _block("37.120.201.0/26"), _city("GB")),
    Network(9009, NetworkKind.VPN, _block("37.120.202.0/26"), _city("US")),
    Network(60068, NetworkKind.VPN, _block("84.17.40.0/26"), _FRANKFURT),
    Network(60068, NetworkKind.VPN, _block("84.17.41.0/26"), _STOCKHOLM),
    Network(212238, NetworkKind.VPN, _block("146.70.10.0/26"), _city("NO")),
    Network(212238, NetworkKind.VPN, _block("146.70.11.0/26"), _city("PL")),
    Network(212238, NetworkKind.VPN, _block("146.70.12.0/26"), _city("JP")),
)



@functools.lru_cache(maxsize=64)
def unlisted_vpn(seed: int) -> tuple[Network, ...]:
    """A consumer VPN of the world's own, drawn per seed: an ASN in no hosting list and /26
    exits in two to six countries. Nothing but the spread of its logins over countries (and
    of its exits' addresses) tells it from a one-country network: a model learns that fact,
    not which ASNs are listed."""
    rng = random.Random(f"{seed}/unlisted_vpn")
    asn = rng.randint(300_000, 390_000)  # above every ASN of hosting_asns.csv but one
    first, second = rng.randint(150, 180), rng.randrange(256)
    return tuple(
        Network(asn, NetworkKind.VPN, _block(f"{first}.{second}.{k}.0/26"),
                rng.choice(country.cities))
        for k, country in enumerate(rng.sample(COUNTRIES, rng.randint(2, 6)))
    )


def _c(ua: str, browser: str, os: str, kind: pb.DeviceType.ValueType) -> Client:
    return Client(ua, browser, os, kind)


_DESKTOP, _MOBILE, _TABLET = pb.DEVICE_TYPE_DESKTOP, pb.DEVICE_TYPE_MOBILE, pb.DEVICE_TYPE_TABLET
_WEBKIT = "AppleWebKit/537.36 (KHTML, like Gecko)"

DESKTOP_CLIENTS = (
    _c(f"Mozilla/5.0 (Windows NT 10.0; Win64; x64) {_WEBKIT} Chrome/120.0.0.0 Safari/537.36",
       "Chrome 120.0.0", "Windows 10", _DESKTOP),
    _c(f"Mozilla/5.0 (Windows NT 10.0; Win64; x64) {_WEBKIT} Chrome/121.0.0.0 Safari/537.36 "
       "Edg/121.0.0.0", "Edge 121.0.0", "Windows 10", _DESKTOP),
    _c("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0",
       "Firefox 121.0", "Windows 10", _DESKTOP),
    _c("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like "
       "Gecko) Version/17.1 Safari/605.1.15", "Safari 17.1", "Mac OS X 10.15.7", _DESKTOP),
    _c(f"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) {_WEBKIT} Chrome/120.0.0.0 "
       "Safari/537.36", "Chrome 120.0.0", "Mac OS X 10.15.7", _DESKTOP),
    _c("Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
       "Firefox 121.0", "Linux", _DESKTOP),
)
MOBILE_CLIENTS = (
    _c("Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
       "like Gecko) Version/17.1 Mobile/15E148 Safari/604.1", "Mobile Safari 17.1", "iOS 17.1",
       _MOBILE),
    _c("Mozilla/5.0 (iPhone; CPU iPhone OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
       "like Gecko) Version/16.6 Mobile/15E148 Safari/604.1", "Mobile Safari 16.6", "iOS 16.6",
       _MOBILE),
    _c(f"Mozilla/5.0 (Linux; Android 14; Pixel 8) {_WEBKIT} Chrome/120.0.6099.43 Mobile "
       "Safari/537.36", "Chrome Mobile 120.0.6099", "Android 14", _MOBILE),
    _c(f"Mozilla/5.0 (Linux; Android 13; SM-S911B) {_WEBKIT} SamsungBrowser/23.0 "
       "Chrome/115.0.0.0 Mobile Safari/537.36", "Samsung Internet 23.0", "Android 13", _MOBILE),
    _c(f"Mozilla/5.0 (Linux; Android 12; M2101K6G) {_WEBKIT} Chrome/119.0.6045.163 Mobile "
       "Safari/537.36", "Chrome Mobile 119.0.6045", "Android 12", _MOBILE),
)
TABLET_CLIENTS = (
    _c("Mozilla/5.0 (iPad; CPU OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
       "Gecko) Version/17.1 Mobile/15E148 Safari/604.1", "Mobile Safari 17.1", "iOS 17.1",
       _TABLET),
    _c(f"Mozilla/5.0 (Linux; Android 13; SM-X200) {_WEBKIT} Chrome/120.0.6099.43 "
       "Safari/537.36", "Chrome 120.0.6099", "Android 13", _TABLET),
)
# A newer phone than any in MOBILE_CLIENTS: what a user who replaces theirs often gets.
NEW_PHONE_CLIENTS = (
    _c("Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
       "like Gecko) Version/17.2 Mobile/15E148 Safari/604.1", "Mobile Safari 17.2", "iOS 17.2",
       _MOBILE),
    _c(f"Mozilla/5.0 (Linux; Android 14; SM-S921B) {_WEBKIT} SamsungBrowser/24.0 "
       "Chrome/117.0.0.0 Mobile Safari/537.36", "Samsung Internet 24.0", "Android 14", _MOBILE),
    *MOBILE_CLIENTS[:3],
)

# What automation sends: scripts and headless browsers, and old browser strings that
# credential-stuffing configurations ship with.
BOT_CLIENTS = (
    _c("python-requests/2.31.0", "Python Requests 2.31", "Other", pb.DEVICE_TYPE_BOT),
    _c("Go-http-client/1.1", "Go-http-client 1.1", "Other", pb.DEVICE_TYPE_BOT),
    _c(f"Mozilla/5.0 (Windows NT 10.0; Win64; x64) {_WEBKIT} HeadlessChrome/119.0.0.0 "
       "Safari/537.36", "HeadlessChrome 119.0.0", "Windows 10", _DESKTOP),
    _c(f"Mozilla/5.0 (Windows NT 6.1; WOW64) {_WEBKIT} Chrome/79.0.3945.88 Safari/537.36",
       "Chrome 79.0.3945", "Windows 7", _DESKTOP),
    _c("Mozilla/5.0 (Linux; Android 7.0; SM-G930V Build/NRD90M) AppleWebKit/537.36 (KHTML, "
       "like Gecko) Chrome/59.0.3071.125 Mobile Safari/537.36", "Chrome Mobile 59.0.3071",
       "Android 7.0", _MOBILE),
)
