"""The small fixed world the login generator draws from: places, networks, user agents."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from aegis.v1 import common_pb2 as pb


@dataclass(frozen=True, slots=True)
class City:
    name: str
    region: str
    country: str
    latitude: float
    longitude: float


@dataclass(frozen=True, slots=True)
class Network:
    """An autonomous system and one of its address blocks."""

    asn: int
    country: str
    block: ipaddress.IPv4Network
    hosting: bool = False

    def address(self, offset: int) -> str:
        """The address at `offset` inside the block (wrapped), never the network or broadcast."""
        usable = self.block.num_addresses - 2
        return str(self.block.network_address + 1 + offset % usable)


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
    # Share of the user population living there.
    weight: float
    # Hours from UTC (no daylight saving: a modest world).
    utc_offset_h: float
    cities: tuple[City, ...]
    networks: tuple[Network, ...]


def _net(asn: int, country: str, block: str, hosting: bool = False) -> Network:
    return Network(asn, country, ipaddress.IPv4Network(block), hosting)


# Weighted like the RBA dataset's service: mostly Norwegian users, a few abroad.
COUNTRIES = (
    Country("NO", 0.40, 1, (
        City("Oslo", "Oslo County", "NO", 59.91, 10.75),
        City("Bergen", "Vestland", "NO", 60.39, 5.32),
        City("Stavanger", "Rogaland", "NO", 58.97, 5.73),
        City("Trondheim", "Trondelag", "NO", 63.43, 10.40),
    ), (_net(29695, "NO", "81.166.0.0/16"), _net(2119, "NO", "84.208.0.0/14"),
        _net(41164, "NO", "46.212.0.0/16"))),
    Country("US", 0.20, -5, (
        City("New York", "New York", "US", 40.71, -74.01),
        City("Chicago", "Illinois", "US", 41.88, -87.63),
        City("Austin", "Texas", "US", 30.27, -97.74),
    ), (_net(7922, "US", "73.0.0.0/12"), _net(701, "US", "71.160.0.0/12"))),
    Country("DE", 0.10, 1, (
        City("Berlin", "Berlin", "DE", 52.52, 13.40),
        City("Munich", "Bavaria", "DE", 48.14, 11.58),
    ), (_net(3320, "DE", "91.0.0.0/12"),)),
    Country("GB", 0.10, 0, (
        City("London", "England", "GB", 51.51, -0.13),
        City("Manchester", "England", "GB", 53.48, -2.24),
    ), (_net(2856, "GB", "86.128.0.0/12"),)),
    Country("PL", 0.08, 1, (
        City("Warsaw", "Mazovia", "PL", 52.23, 21.01),
        City("Krakow", "Lesser Poland", "PL", 50.06, 19.94),
    ), (_net(5617, "PL", "83.0.0.0/13"),)),
    Country("BR", 0.07, -3, (
        City("Sao Paulo", "Sao Paulo", "BR", -23.55, -46.63),
        City("Recife", "Pernambuco", "BR", -8.05, -34.88),
    ), (_net(28573, "BR", "177.32.0.0/12"),)),
    Country("IN", 0.05, 5.5, (
        City("Mumbai", "Maharashtra", "IN", 19.08, 72.88),
        City("Bengaluru", "Karnataka", "IN", 12.97, 77.59),
    ), (_net(24560, "IN", "122.160.0.0/12"),)),
)

# Where credential-stuffing traffic comes from: rented servers, not homes.
HOSTING_CITIES = (
    (City("Amsterdam", "North Holland", "NL", 52.37, 4.90),
     _net(14061, "NL", "188.166.0.0/16", hosting=True)),
    (City("Bucharest", "Bucuresti", "RO", 44.43, 26.10),
     _net(9009, "RO", "185.107.0.0/16", hosting=True)),
    (City("Roubaix", "Hauts-de-France", "FR", 50.69, 3.17),
     _net(16276, "FR", "51.68.0.0/16", hosting=True)),
    (City("Ashburn", "Virginia", "US", 39.04, -77.49),
     _net(16509, "US", "3.80.0.0/12", hosting=True)),
)

CLIENTS = (
    Client("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
           "Chrome/120.0.0.0 Safari/537.36", "Chrome 120.0.0", "Windows 10",
           pb.DEVICE_TYPE_DESKTOP),
    Client("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like "
           "Gecko) Version/17.1 Safari/605.1.15", "Safari 17.1", "Mac OS X 10.15.7",
           pb.DEVICE_TYPE_DESKTOP),
    Client("Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
           "Firefox 121.0", "Linux", pb.DEVICE_TYPE_DESKTOP),
    Client("Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
           "like Gecko) Version/17.1 Mobile/15E148 Safari/604.1", "Mobile Safari 17.1",
           "iOS 17.1", pb.DEVICE_TYPE_MOBILE),
    Client("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
           "Chrome/120.0.6099.43 Mobile Safari/537.36", "Chrome Mobile 120.0.6099",
           "Android 14", pb.DEVICE_TYPE_MOBILE),
    Client("Mozilla/5.0 (Linux; Android 13; SM-S911B) AppleWebKit/537.36 (KHTML, like Gecko) "
           "SamsungBrowser/23.0 Chrome/115.0.0.0 Mobile Safari/537.36", "Samsung Internet 23.0",
           "Android 13", pb.DEVICE_TYPE_MOBILE),
    Client("Mozilla/5.0 (iPad; CPU OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
           "Gecko) Version/17.1 Mobile/15E148 Safari/604.1", "Mobile Safari 17.1", "iOS 17.1",
           pb.DEVICE_TYPE_TABLET),
)

# What credential-stuffing tools send.
ATTACK_CLIENTS = (
    Client("python-requests/2.31.0", "Python Requests 2.31", "Other", pb.DEVICE_TYPE_BOT),
    Client("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
           "HeadlessChrome/119.0.0.0 Safari/537.36", "HeadlessChrome 119.0.0", "Windows 10",
           pb.DEVICE_TYPE_DESKTOP),
    Client("Mozilla/5.0 (Windows NT 6.1; WOW64) AppleWebKit/537.36 (KHTML, like Gecko) "
           "Chrome/79.0.3945.88 Safari/537.36", "Chrome 79.0.3945", "Windows 7",
           pb.DEVICE_TYPE_DESKTOP),
)
