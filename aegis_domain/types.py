"""Plain-Python domain types; the logic of every service works on these, never on protobuf."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field


class Action(enum.IntEnum):
    """Values match aegis.v1.Action."""

    ALLOW = 1
    CHALLENGE = 2
    BLOCK_TEMPORARY = 3
    ESCALATE = 4
    BLOCK_PERMANENT = 5
    ACCOUNT_TERMINATION = 6


# Only a human reviewer may take these (design.md): no policy can make the AI take them, and
# the audit log refuses them from anything but a review.
HUMAN_ONLY: frozenset[str] = frozenset({"BLOCK_PERMANENT", "ACCOUNT_TERMINATION"})


class DeviceType(enum.IntEnum):
    """Values match aegis.v1.DeviceType."""

    UNSPECIFIED = 0
    DESKTOP = 1
    MOBILE = 2
    TABLET = 3
    BOT = 4
    UNKNOWN = 5


class AuthMethod(enum.IntEnum):
    """Values match aegis.v1.AuthMethod."""

    UNSPECIFIED = 0
    PASSWORD = 1
    PASSKEY = 2
    OTP = 3
    SSO = 4
    MAGIC_LINK = 5


class SignalStatus(enum.IntEnum):
    """Values match aegis.v1.SignalStatus."""

    OK = 1
    NO_MODEL = 2
    TIMEOUT = 3
    ERROR = 4
    UNAVAILABLE = 5


class LinkKind(enum.IntEnum):
    """Values match aegis.v1.LinkKind."""

    DEVICE = 1
    IP = 2
    ASN = 3


@dataclass(slots=True)
class LoginEvent:
    """One login attempt. `timestamp` is UTC seconds since the epoch."""

    event_id: str
    timestamp: float
    user_id: str
    ip: str
    session_id: str = ""
    device_id: str = ""
    country: str = ""
    region: str = ""
    city: str = ""
    asn: int = 0
    user_agent: str = ""
    browser: str = ""
    os: str = ""
    device_type: DeviceType = DeviceType.UNSPECIFIED
    login_successful: bool = False
    round_trip_time_ms: float | None = None
    auth_method: AuthMethod = AuthMethod.UNSPECIFIED
    failed_attempts_before: int = 0
    latitude: float | None = None
    longitude: float | None = None
    accuracy_radius_km: float | None = None


@dataclass(slots=True)
class PastLogin:
    event: LoginEvent
    action: Action
    risk: float


@dataclass(slots=True)
class Neighbor:
    link: LinkKind
    user_id: str
    logins: int
    failures: int
    flagged: int
    max_risk: float
    last_seen: float


@dataclass(slots=True)
class Velocity:
    user_attempts: int = 0
    user_failures: int = 0
    ip_attempts: int = 0
    ip_failures: int = 0
    ip_distinct_users: int = 0
    device_distinct_users: int = 0
    window_seconds: int = 0


@dataclass(slots=True)
class LoginContext:
    """History is most recent first and strictly before the event being scored; read from the
    wire it is a columnar aegis_domain.login_history.LoginHistory."""

    history: Sequence[PastLogin] = field(default_factory=list)
    neighbors: Sequence[Neighbor] = field(default_factory=list)
    velocity: Velocity = field(default_factory=Velocity)
    device_users: int = 0
    ip_users: int = 0
    asn_users: int = 0
    history_truncated: bool = False
    asn_countries: int = 0


@dataclass(slots=True)
class Reason:
    code: str
    message: str
    weight: float = 0.0


@dataclass(slots=True)
class AgentSignal:
    """One agent's opinion; risk and confidence in [0, 1]."""

    agent: str
    status: SignalStatus
    risk: float = 0.0
    confidence: float = 0.0
    reasons: list[Reason] = field(default_factory=list)
    model_version: str = ""
    latency_ms: float = 0.0
    detail: str = ""
    batch_size: int = 0

    @property
    def present(self) -> bool:
        """Whether this signal takes part in the combination."""
        return self.status is SignalStatus.OK
