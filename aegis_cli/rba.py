"""The public RBA login dataset's CSV layout (Wiefling et al. 2022) <-> aegis.v1.LoginEvent."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from datetime import UTC, datetime

from aegis.v1 import common_pb2 as pb
from aegis_domain.digest import content_event_id
from router_service.client.rows import Labels, Problem

INDEX = "index"
TIMESTAMP = "Login Timestamp"
USER_ID = "User ID"
ROUND_TRIP_TIME = "Round-Trip Time [ms]"
IP = "IP Address"
COUNTRY = "Country"
REGION = "Region"
CITY = "City"
ASN = "ASN"
USER_AGENT = "User Agent String"
BROWSER = "Browser Name and Version"
OS = "OS Name and Version"
DEVICE_TYPE = "Device Type"
LOGIN_SUCCESSFUL = "Login Successful"
IS_ATTACK_IP = "Is Attack IP"
IS_ACCOUNT_TAKEOVER = "Is Account Takeover"

EVENT_COLUMNS = (
    INDEX, TIMESTAMP, USER_ID, ROUND_TRIP_TIME, IP, COUNTRY, REGION, CITY, ASN,
    USER_AGENT, BROWSER, OS, DEVICE_TYPE, LOGIN_SUCCESSFUL,
)
LABEL_COLUMNS = (IS_ATTACK_IP, IS_ACCOUNT_TAKEOVER)
COLUMNS = EVENT_COLUMNS + LABEL_COLUMNS

# LoginEvent field -> the column it came from, so that a field the domain validation rejects
# is reported under the column name the user sees in the file.
COLUMN_OF_FIELD = {
    "timestamp": TIMESTAMP,
    "user_id": USER_ID,
    "round_trip_time_ms": ROUND_TRIP_TIME,
    "ip": IP,
    "country": COUNTRY,
    "region": REGION,
    "city": CITY,
    "asn": ASN,
    "user_agent": USER_AGENT,
    "browser": BROWSER,
    "os": OS,
    "device_type": DEVICE_TYPE,
    "login_successful": LOGIN_SUCCESSFUL,
}

# The dataset writes "-" where the geolocation has no region or city.
UNKNOWN_PLACE = "-"
EVENT_ID_PREFIX = "rba-"
TIMESTAMP_EXAMPLE = "2020-02-03 12:43:30.772"
_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d{1,6})?", re.ASCII)
_INTEGER = re.compile(r"-?\d+", re.ASCII)
_UNSIGNED = re.compile(r"\d+", re.ASCII)
_DECIMAL = re.compile(r"\d+(\.\d+)?", re.ASCII)
_SCIENTIFIC = re.compile(r"[-+]?\d+(\.\d*)?[eE][-+]?\d+", re.ASCII)
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_UINT32_MAX = 2**32 - 1
_UINT64_MAX = 2**64 - 1
DEVICE_TYPES = {
    "desktop": pb.DEVICE_TYPE_DESKTOP,
    "mobile": pb.DEVICE_TYPE_MOBILE,
    "tablet": pb.DEVICE_TYPE_TABLET,
    "bot": pb.DEVICE_TYPE_BOT,
    "unknown": pb.DEVICE_TYPE_UNKNOWN,
}
_DEVICE_TYPE_NAMES = {value: name for name, value in DEVICE_TYPES.items()}


class HeaderError(ValueError):
    """The header is not the RBA layout."""


class RbaLayout:
    """Positions of the RBA columns in one file's header (any order; labels optional)."""

    def __init__(self, header: Sequence[str]) -> None:
        names = [name.strip() for name in header]
        duplicated = sorted({n for n in names if names.count(n) > 1})
        missing = [c for c in EVENT_COLUMNS if c not in names]
        unknown = [n for n in names if n not in COLUMNS]
        labels_present = [c for c in LABEL_COLUMNS if c in names]
        problems = []
        if duplicated:
            problems.append(f"duplicated columns {duplicated}")
        if missing:
            problems.append(f"missing columns {missing}")
        if unknown:
            problems.append(f"unknown columns {unknown}")
        if len(labels_present) == 1:
            problems.append(f"label columns come together: {list(LABEL_COLUMNS)}")
        if problems:
            raise HeaderError("not the RBA dataset header: " + "; ".join(problems))
        self.width = len(names)
        self.position = {name: i for i, name in enumerate(names)}
        self.has_labels = bool(labels_present)

    def parse(
        self, values: Sequence[str]
    ) -> tuple[pb.LoginEvent | None, Labels | None, list[Problem]]:
        """The event and labels of one row, or every problem found in it (then no event)."""
        if len(values) != self.width:
            problem = Problem("", f"has {len(values)} fields; the header has {self.width}")
            return None, None, [problem]
        parser = _RowParser({name: values[i] for name, i in self.position.items()})
        # Checked, though not the login's id.
        parser.unsigned(INDEX, _UINT64_MAX)
        event = pb.LoginEvent(
            user_id=parser.user_id(),
            ip=parser.text(IP),
            country=parser.text(COUNTRY),
            region=parser.place(REGION),
            city=parser.place(CITY),
            asn=parser.unsigned(ASN, _UINT32_MAX),
            user_agent=parser.text(USER_AGENT),
            browser=parser.text(BROWSER),
            os=parser.text(OS),
            device_type=parser.device_type(),
            login_successful=parser.boolean(LOGIN_SUCCESSFUL),
        )
        event.timestamp.FromDatetime(parser.timestamp())
        rtt = parser.round_trip_time()
        if rtt is not None:
            event.round_trip_time_ms = rtt
        # The index is a position, repeated in every file: the id comes from the content.
        event.event_id = content_event_id(event, EVENT_ID_PREFIX)
        labels = None
        if self.has_labels:
            labels = Labels(parser.boolean(IS_ATTACK_IP), parser.boolean(IS_ACCOUNT_TAKEOVER))
        if parser.problems:
            # In the file's column order, as a reader of the file scans it.
            problems = sorted(parser.problems, key=lambda p: self.position[p.column])
            return None, None, problems
        return event, labels, []


class _RowParser:
    """Parses the columns of one row, collecting a Problem per bad column instead of raising,
    so that a row is reported with everything wrong in it at once."""

    def __init__(self, values: dict[str, str]) -> None:
        self.values = values
        self.problems: list[Problem] = []

    def _bad(self, column: str, message: str) -> None:
        self.problems.append(Problem(column, message))

    def text(self, column: str) -> str:
        return self.values[column]

    def place(self, column: str) -> str:
        value = self.values[column]
        return "" if value == UNKNOWN_PLACE else value

    def unsigned(self, column: str, maximum: int) -> int:
        value = self.values[column]
        if not _UNSIGNED.fullmatch(value):
            self._bad(column, f"{value!r} is not a non-negative integer")
            return 0
        number = int(value)
        if number > maximum:
            self._bad(column, f"{value} is larger than {maximum}")
            return 0
        return number

    def user_id(self) -> str:
        value = self.values[USER_ID]
        if _SCIENTIFIC.fullmatch(value):
            self._bad(
                USER_ID,
                f"{value!r} is in scientific notation: its digits were rounded away (as a "
                "spreadsheet does) and distinct users would merge; refused",
            )
        elif not _INTEGER.fullmatch(value):
            self._bad(USER_ID, f"{value!r} is not a signed 64-bit integer")
        elif not _INT64_MIN <= int(value) <= _INT64_MAX:
            self._bad(USER_ID, f"{value} is outside the signed 64-bit range")
        # Kept as the text it is: an id, not a number to compute with.
        return value

    def timestamp(self) -> datetime:
        value = self.values[TIMESTAMP]
        if _TIMESTAMP.fullmatch(value):
            try:
                return datetime.fromisoformat(value).replace(tzinfo=UTC)
            except ValueError as exc:
                self._bad(TIMESTAMP, f"{value!r} is not a valid date and time: {exc}")
        else:
            self._bad(
                TIMESTAMP,
                f"{value!r} is not a timestamp like {TIMESTAMP_EXAMPLE} (YYYY-MM-DD "
                "HH:MM:SS[.fff], UTC); a spreadsheet may have cut the date off",
            )
        return datetime(1970, 1, 1, tzinfo=UTC)

    def round_trip_time(self) -> float | None:
        value = self.values[ROUND_TRIP_TIME]
        if value == "":
            return None
        if not _DECIMAL.fullmatch(value) or not math.isfinite(float(value)):
            self._bad(ROUND_TRIP_TIME, f"{value!r} is not a number of milliseconds (or empty)")
            return None
        return float(value)

    def device_type(self) -> pb.DeviceType.ValueType:
        value = self.values[DEVICE_TYPE]
        if value not in DEVICE_TYPES:
            self._bad(DEVICE_TYPE, f"{value!r} is not one of {', '.join(DEVICE_TYPES)}")
            return pb.DEVICE_TYPE_UNSPECIFIED
        return DEVICE_TYPES[value]

    def boolean(self, column: str) -> bool:
        value = self.values[column]
        if value in ("True", "False"):
            return value == "True"
        if value.lower() in ("true", "false"):
            self._bad(
                column,
                f"{value!r} must be written exactly True or False (a spreadsheet upper-cases "
                "booleans)",
            )
        else:
            self._bad(column, f"{value!r} is not True or False")
        return False


def format_row(index: int, event: pb.LoginEvent, labels: Labels) -> list[str]:
    """One CSV row in the dataset's layout (COLUMNS order); timestamps at millisecond precision."""
    moment = event.timestamp.ToDatetime(tzinfo=UTC)
    return [
        str(index),
        moment.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3],
        event.user_id,
        repr(event.round_trip_time_ms) if event.HasField("round_trip_time_ms") else "",
        event.ip,
        event.country,
        event.region or UNKNOWN_PLACE,
        event.city or UNKNOWN_PLACE,
        str(event.asn),
        event.user_agent,
        event.browser,
        event.os,
        _DEVICE_TYPE_NAMES.get(event.device_type, "unknown"),
        str(event.login_successful),
        str(labels.is_attack_ip),
        str(labels.is_account_takeover),
    ]
