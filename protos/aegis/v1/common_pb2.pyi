import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Action(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ACTION_UNSPECIFIED: _ClassVar[Action]
    ACTION_ALLOW: _ClassVar[Action]
    ACTION_CHALLENGE: _ClassVar[Action]
    ACTION_BLOCK_TEMPORARY: _ClassVar[Action]
    ACTION_ESCALATE: _ClassVar[Action]
    ACTION_BLOCK_PERMANENT: _ClassVar[Action]
    ACTION_ACCOUNT_TERMINATION: _ClassVar[Action]

class DeviceType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DEVICE_TYPE_UNSPECIFIED: _ClassVar[DeviceType]
    DEVICE_TYPE_DESKTOP: _ClassVar[DeviceType]
    DEVICE_TYPE_MOBILE: _ClassVar[DeviceType]
    DEVICE_TYPE_TABLET: _ClassVar[DeviceType]
    DEVICE_TYPE_BOT: _ClassVar[DeviceType]
    DEVICE_TYPE_UNKNOWN: _ClassVar[DeviceType]

class AuthMethod(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    AUTH_METHOD_UNSPECIFIED: _ClassVar[AuthMethod]
    AUTH_METHOD_PASSWORD: _ClassVar[AuthMethod]
    AUTH_METHOD_PASSKEY: _ClassVar[AuthMethod]
    AUTH_METHOD_OTP: _ClassVar[AuthMethod]
    AUTH_METHOD_SSO: _ClassVar[AuthMethod]
    AUTH_METHOD_MAGIC_LINK: _ClassVar[AuthMethod]

class LinkKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    LINK_KIND_UNSPECIFIED: _ClassVar[LinkKind]
    LINK_KIND_DEVICE: _ClassVar[LinkKind]
    LINK_KIND_IP: _ClassVar[LinkKind]
    LINK_KIND_ASN: _ClassVar[LinkKind]

class SignalStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SIGNAL_STATUS_UNSPECIFIED: _ClassVar[SignalStatus]
    SIGNAL_STATUS_OK: _ClassVar[SignalStatus]
    SIGNAL_STATUS_NO_MODEL: _ClassVar[SignalStatus]
    SIGNAL_STATUS_TIMEOUT: _ClassVar[SignalStatus]
    SIGNAL_STATUS_ERROR: _ClassVar[SignalStatus]
    SIGNAL_STATUS_UNAVAILABLE: _ClassVar[SignalStatus]

class ReviewOutcome(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REVIEW_OUTCOME_UNSPECIFIED: _ClassVar[ReviewOutcome]
    REVIEW_OUTCOME_APPROVE: _ClassVar[ReviewOutcome]
    REVIEW_OUTCOME_REJECT: _ClassVar[ReviewOutcome]
    REVIEW_OUTCOME_MODIFY: _ClassVar[ReviewOutcome]
ACTION_UNSPECIFIED: Action
ACTION_ALLOW: Action
ACTION_CHALLENGE: Action
ACTION_BLOCK_TEMPORARY: Action
ACTION_ESCALATE: Action
ACTION_BLOCK_PERMANENT: Action
ACTION_ACCOUNT_TERMINATION: Action
DEVICE_TYPE_UNSPECIFIED: DeviceType
DEVICE_TYPE_DESKTOP: DeviceType
DEVICE_TYPE_MOBILE: DeviceType
DEVICE_TYPE_TABLET: DeviceType
DEVICE_TYPE_BOT: DeviceType
DEVICE_TYPE_UNKNOWN: DeviceType
AUTH_METHOD_UNSPECIFIED: AuthMethod
AUTH_METHOD_PASSWORD: AuthMethod
AUTH_METHOD_PASSKEY: AuthMethod
AUTH_METHOD_OTP: AuthMethod
AUTH_METHOD_SSO: AuthMethod
AUTH_METHOD_MAGIC_LINK: AuthMethod
LINK_KIND_UNSPECIFIED: LinkKind
LINK_KIND_DEVICE: LinkKind
LINK_KIND_IP: LinkKind
LINK_KIND_ASN: LinkKind
SIGNAL_STATUS_UNSPECIFIED: SignalStatus
SIGNAL_STATUS_OK: SignalStatus
SIGNAL_STATUS_NO_MODEL: SignalStatus
SIGNAL_STATUS_TIMEOUT: SignalStatus
SIGNAL_STATUS_ERROR: SignalStatus
SIGNAL_STATUS_UNAVAILABLE: SignalStatus
REVIEW_OUTCOME_UNSPECIFIED: ReviewOutcome
REVIEW_OUTCOME_APPROVE: ReviewOutcome
REVIEW_OUTCOME_REJECT: ReviewOutcome
REVIEW_OUTCOME_MODIFY: ReviewOutcome

class LoginEvent(_message.Message):
    __slots__ = ("event_id", "timestamp", "user_id", "session_id", "device_id", "ip", "country", "region", "city", "asn", "user_agent", "browser", "os", "device_type", "login_successful", "round_trip_time_ms", "auth_method", "failed_attempts_before", "latitude", "longitude", "accuracy_radius_km")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    IP_FIELD_NUMBER: _ClassVar[int]
    COUNTRY_FIELD_NUMBER: _ClassVar[int]
    REGION_FIELD_NUMBER: _ClassVar[int]
    CITY_FIELD_NUMBER: _ClassVar[int]
    ASN_FIELD_NUMBER: _ClassVar[int]
    USER_AGENT_FIELD_NUMBER: _ClassVar[int]
    BROWSER_FIELD_NUMBER: _ClassVar[int]
    OS_FIELD_NUMBER: _ClassVar[int]
    DEVICE_TYPE_FIELD_NUMBER: _ClassVar[int]
    LOGIN_SUCCESSFUL_FIELD_NUMBER: _ClassVar[int]
    ROUND_TRIP_TIME_MS_FIELD_NUMBER: _ClassVar[int]
    AUTH_METHOD_FIELD_NUMBER: _ClassVar[int]
    FAILED_ATTEMPTS_BEFORE_FIELD_NUMBER: _ClassVar[int]
    LATITUDE_FIELD_NUMBER: _ClassVar[int]
    LONGITUDE_FIELD_NUMBER: _ClassVar[int]
    ACCURACY_RADIUS_KM_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    timestamp: _timestamp_pb2.Timestamp
    user_id: str
    session_id: str
    device_id: str
    ip: str
    country: str
    region: str
    city: str
    asn: int
    user_agent: str
    browser: str
    os: str
    device_type: DeviceType
    login_successful: bool
    round_trip_time_ms: float
    auth_method: AuthMethod
    failed_attempts_before: int
    latitude: float
    longitude: float
    accuracy_radius_km: float
    def __init__(self, event_id: _Optional[str] = ..., timestamp: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., user_id: _Optional[str] = ..., session_id: _Optional[str] = ..., device_id: _Optional[str] = ..., ip: _Optional[str] = ..., country: _Optional[str] = ..., region: _Optional[str] = ..., city: _Optional[str] = ..., asn: _Optional[int] = ..., user_agent: _Optional[str] = ..., browser: _Optional[str] = ..., os: _Optional[str] = ..., device_type: _Optional[_Union[DeviceType, str]] = ..., login_successful: _Optional[bool] = ..., round_trip_time_ms: _Optional[float] = ..., auth_method: _Optional[_Union[AuthMethod, str]] = ..., failed_attempts_before: _Optional[int] = ..., latitude: _Optional[float] = ..., longitude: _Optional[float] = ..., accuracy_radius_km: _Optional[float] = ...) -> None: ...

class PastLogin(_message.Message):
    __slots__ = ("event", "action", "risk")
    EVENT_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    RISK_FIELD_NUMBER: _ClassVar[int]
    event: LoginEvent
    action: Action
    risk: float
    def __init__(self, event: _Optional[_Union[LoginEvent, _Mapping]] = ..., action: _Optional[_Union[Action, str]] = ..., risk: _Optional[float] = ...) -> None: ...

class Neighbor(_message.Message):
    __slots__ = ("link", "user_id", "logins", "failures", "flagged", "max_risk", "last_seen")
    LINK_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    LOGINS_FIELD_NUMBER: _ClassVar[int]
    FAILURES_FIELD_NUMBER: _ClassVar[int]
    FLAGGED_FIELD_NUMBER: _ClassVar[int]
    MAX_RISK_FIELD_NUMBER: _ClassVar[int]
    LAST_SEEN_FIELD_NUMBER: _ClassVar[int]
    link: LinkKind
    user_id: str
    logins: int
    failures: int
    flagged: int
    max_risk: float
    last_seen: _timestamp_pb2.Timestamp
    def __init__(self, link: _Optional[_Union[LinkKind, str]] = ..., user_id: _Optional[str] = ..., logins: _Optional[int] = ..., failures: _Optional[int] = ..., flagged: _Optional[int] = ..., max_risk: _Optional[float] = ..., last_seen: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Velocity(_message.Message):
    __slots__ = ("user_attempts", "user_failures", "ip_attempts", "ip_failures", "ip_distinct_users", "device_distinct_users", "window_seconds")
    USER_ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    USER_FAILURES_FIELD_NUMBER: _ClassVar[int]
    IP_ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    IP_FAILURES_FIELD_NUMBER: _ClassVar[int]
    IP_DISTINCT_USERS_FIELD_NUMBER: _ClassVar[int]
    DEVICE_DISTINCT_USERS_FIELD_NUMBER: _ClassVar[int]
    WINDOW_SECONDS_FIELD_NUMBER: _ClassVar[int]
    user_attempts: int
    user_failures: int
    ip_attempts: int
    ip_failures: int
    ip_distinct_users: int
    device_distinct_users: int
    window_seconds: int
    def __init__(self, user_attempts: _Optional[int] = ..., user_failures: _Optional[int] = ..., ip_attempts: _Optional[int] = ..., ip_failures: _Optional[int] = ..., ip_distinct_users: _Optional[int] = ..., device_distinct_users: _Optional[int] = ..., window_seconds: _Optional[int] = ...) -> None: ...

class LoginHistory(_message.Message):
    __slots__ = ("event_id", "timestamp", "user_id", "session_id", "device_id", "ip", "country", "region", "city", "asn", "user_agent", "browser", "os", "device_type", "login_successful", "round_trip_time_ms", "auth_method", "failed_attempts_before", "latitude", "longitude", "accuracy_radius_km", "action", "risk")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    IP_FIELD_NUMBER: _ClassVar[int]
    COUNTRY_FIELD_NUMBER: _ClassVar[int]
    REGION_FIELD_NUMBER: _ClassVar[int]
    CITY_FIELD_NUMBER: _ClassVar[int]
    ASN_FIELD_NUMBER: _ClassVar[int]
    USER_AGENT_FIELD_NUMBER: _ClassVar[int]
    BROWSER_FIELD_NUMBER: _ClassVar[int]
    OS_FIELD_NUMBER: _ClassVar[int]
    DEVICE_TYPE_FIELD_NUMBER: _ClassVar[int]
    LOGIN_SUCCESSFUL_FIELD_NUMBER: _ClassVar[int]
    ROUND_TRIP_TIME_MS_FIELD_NUMBER: _ClassVar[int]
    AUTH_METHOD_FIELD_NUMBER: _ClassVar[int]
    FAILED_ATTEMPTS_BEFORE_FIELD_NUMBER: _ClassVar[int]
    LATITUDE_FIELD_NUMBER: _ClassVar[int]
    LONGITUDE_FIELD_NUMBER: _ClassVar[int]
    ACCURACY_RADIUS_KM_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    RISK_FIELD_NUMBER: _ClassVar[int]
    event_id: _containers.RepeatedScalarFieldContainer[str]
    timestamp: _containers.RepeatedScalarFieldContainer[float]
    user_id: _containers.RepeatedScalarFieldContainer[str]
    session_id: _containers.RepeatedScalarFieldContainer[str]
    device_id: _containers.RepeatedScalarFieldContainer[str]
    ip: _containers.RepeatedScalarFieldContainer[str]
    country: _containers.RepeatedScalarFieldContainer[str]
    region: _containers.RepeatedScalarFieldContainer[str]
    city: _containers.RepeatedScalarFieldContainer[str]
    asn: _containers.RepeatedScalarFieldContainer[int]
    user_agent: _containers.RepeatedScalarFieldContainer[str]
    browser: _containers.RepeatedScalarFieldContainer[str]
    os: _containers.RepeatedScalarFieldContainer[str]
    device_type: _containers.RepeatedScalarFieldContainer[DeviceType]
    login_successful: _containers.RepeatedScalarFieldContainer[bool]
    round_trip_time_ms: _containers.RepeatedScalarFieldContainer[float]
    auth_method: _containers.RepeatedScalarFieldContainer[AuthMethod]
    failed_attempts_before: _containers.RepeatedScalarFieldContainer[int]
    latitude: _containers.RepeatedScalarFieldContainer[float]
    longitude: _containers.RepeatedScalarFieldContainer[float]
    accuracy_radius_km: _containers.RepeatedScalarFieldContainer[float]
    action: _containers.RepeatedScalarFieldContainer[Action]
    risk: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, event_id: _Optional[_Iterable[str]] = ..., timestamp: _Optional[_Iterable[float]] = ..., user_id: _Optional[_Iterable[str]] = ..., session_id: _Optional[_Iterable[str]] = ..., device_id: _Optional[_Iterable[str]] = ..., ip: _Optional[_Iterable[str]] = ..., country: _Optional[_Iterable[str]] = ..., region: _Optional[_Iterable[str]] = ..., city: _Optional[_Iterable[str]] = ..., asn: _Optional[_Iterable[int]] = ..., user_agent: _Optional[_Iterable[str]] = ..., browser: _Optional[_Iterable[str]] = ..., os: _Optional[_Iterable[str]] = ..., device_type: _Optional[_Iterable[_Union[DeviceType, str]]] = ..., login_successful: _Optional[_Iterable[bool]] = ..., round_trip_time_ms: _Optional[_Iterable[float]] = ..., auth_method: _Optional[_Iterable[_Union[AuthMethod, str]]] = ..., failed_attempts_before: _Optional[_Iterable[int]] = ..., latitude: _Optional[_Iterable[float]] = ..., longitude: _Optional[_Iterable[float]] = ..., accuracy_radius_km: _Optional[_Iterable[float]] = ..., action: _Optional[_Iterable[_Union[Action, str]]] = ..., risk: _Optional[_Iterable[float]] = ...) -> None: ...

class LoginContext(_message.Message):
    __slots__ = ("history", "neighbors", "velocity", "device_users", "ip_users", "asn_users", "history_truncated", "past_logins", "asn_countries")
    HISTORY_FIELD_NUMBER: _ClassVar[int]
    NEIGHBORS_FIELD_NUMBER: _ClassVar[int]
    VELOCITY_FIELD_NUMBER: _ClassVar[int]
    DEVICE_USERS_FIELD_NUMBER: _ClassVar[int]
    IP_USERS_FIELD_NUMBER: _ClassVar[int]
    ASN_USERS_FIELD_NUMBER: _ClassVar[int]
    HISTORY_TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    PAST_LOGINS_FIELD_NUMBER: _ClassVar[int]
    ASN_COUNTRIES_FIELD_NUMBER: _ClassVar[int]
    history: _containers.RepeatedCompositeFieldContainer[PastLogin]
    neighbors: _containers.RepeatedCompositeFieldContainer[Neighbor]
    velocity: Velocity
    device_users: int
    ip_users: int
    asn_users: int
    history_truncated: bool
    past_logins: LoginHistory
    asn_countries: int
    def __init__(self, history: _Optional[_Iterable[_Union[PastLogin, _Mapping]]] = ..., neighbors: _Optional[_Iterable[_Union[Neighbor, _Mapping]]] = ..., velocity: _Optional[_Union[Velocity, _Mapping]] = ..., device_users: _Optional[int] = ..., ip_users: _Optional[int] = ..., asn_users: _Optional[int] = ..., history_truncated: _Optional[bool] = ..., past_logins: _Optional[_Union[LoginHistory, _Mapping]] = ..., asn_countries: _Optional[int] = ...) -> None: ...

class Reason(_message.Message):
    __slots__ = ("code", "message", "weight")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_FIELD_NUMBER: _ClassVar[int]
    code: str
    message: str
    weight: float
    def __init__(self, code: _Optional[str] = ..., message: _Optional[str] = ..., weight: _Optional[float] = ...) -> None: ...

class AgentSignal(_message.Message):
    __slots__ = ("agent", "status", "risk", "confidence", "reasons", "model_version", "latency_ms", "detail", "batch_size")
    AGENT_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    RISK_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    REASONS_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    agent: str
    status: SignalStatus
    risk: float
    confidence: float
    reasons: _containers.RepeatedCompositeFieldContainer[Reason]
    model_version: str
    latency_ms: float
    detail: str
    batch_size: int
    def __init__(self, agent: _Optional[str] = ..., status: _Optional[_Union[SignalStatus, str]] = ..., risk: _Optional[float] = ..., confidence: _Optional[float] = ..., reasons: _Optional[_Iterable[_Union[Reason, _Mapping]]] = ..., model_version: _Optional[str] = ..., latency_ms: _Optional[float] = ..., detail: _Optional[str] = ..., batch_size: _Optional[int] = ...) -> None: ...

class Decision(_message.Message):
    __slots__ = ("decision_id", "event_id", "action", "risk", "confidence", "disagreement", "reasons", "signals", "degraded_agents", "policy_version", "model_versions", "audit_ref", "trace_id", "decided_at", "latency_ms", "thresholds", "drivers")
    class ModelVersionsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    DECISION_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    RISK_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    DISAGREEMENT_FIELD_NUMBER: _ClassVar[int]
    REASONS_FIELD_NUMBER: _ClassVar[int]
    SIGNALS_FIELD_NUMBER: _ClassVar[int]
    DEGRADED_AGENTS_FIELD_NUMBER: _ClassVar[int]
    POLICY_VERSION_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSIONS_FIELD_NUMBER: _ClassVar[int]
    AUDIT_REF_FIELD_NUMBER: _ClassVar[int]
    TRACE_ID_FIELD_NUMBER: _ClassVar[int]
    DECIDED_AT_FIELD_NUMBER: _ClassVar[int]
    LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    THRESHOLDS_FIELD_NUMBER: _ClassVar[int]
    DRIVERS_FIELD_NUMBER: _ClassVar[int]
    decision_id: str
    event_id: str
    action: Action
    risk: float
    confidence: float
    disagreement: float
    reasons: _containers.RepeatedCompositeFieldContainer[Reason]
    signals: _containers.RepeatedCompositeFieldContainer[AgentSignal]
    degraded_agents: _containers.RepeatedScalarFieldContainer[str]
    policy_version: str
    model_versions: _containers.ScalarMap[str, str]
    audit_ref: str
    trace_id: str
    decided_at: _timestamp_pb2.Timestamp
    latency_ms: float
    thresholds: PolicyThresholds
    drivers: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, decision_id: _Optional[str] = ..., event_id: _Optional[str] = ..., action: _Optional[_Union[Action, str]] = ..., risk: _Optional[float] = ..., confidence: _Optional[float] = ..., disagreement: _Optional[float] = ..., reasons: _Optional[_Iterable[_Union[Reason, _Mapping]]] = ..., signals: _Optional[_Iterable[_Union[AgentSignal, _Mapping]]] = ..., degraded_agents: _Optional[_Iterable[str]] = ..., policy_version: _Optional[str] = ..., model_versions: _Optional[_Mapping[str, str]] = ..., audit_ref: _Optional[str] = ..., trace_id: _Optional[str] = ..., decided_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., latency_ms: _Optional[float] = ..., thresholds: _Optional[_Union[PolicyThresholds, _Mapping]] = ..., drivers: _Optional[_Iterable[str]] = ...) -> None: ...

class PolicyThresholds(_message.Message):
    __slots__ = ("challenge", "block_temporary", "critical", "escalate_above", "window_decisions")
    CHALLENGE_FIELD_NUMBER: _ClassVar[int]
    BLOCK_TEMPORARY_FIELD_NUMBER: _ClassVar[int]
    CRITICAL_FIELD_NUMBER: _ClassVar[int]
    ESCALATE_ABOVE_FIELD_NUMBER: _ClassVar[int]
    WINDOW_DECISIONS_FIELD_NUMBER: _ClassVar[int]
    challenge: float
    block_temporary: float
    critical: float
    escalate_above: float
    window_decisions: int
    def __init__(self, challenge: _Optional[float] = ..., block_temporary: _Optional[float] = ..., critical: _Optional[float] = ..., escalate_above: _Optional[float] = ..., window_decisions: _Optional[int] = ...) -> None: ...

class Review(_message.Message):
    __slots__ = ("review_id", "decision_id", "outcome", "action", "reviewer", "reason", "reviewed_at", "original_action")
    REVIEW_ID_FIELD_NUMBER: _ClassVar[int]
    DECISION_ID_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    REVIEWER_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    REVIEWED_AT_FIELD_NUMBER: _ClassVar[int]
    ORIGINAL_ACTION_FIELD_NUMBER: _ClassVar[int]
    review_id: str
    decision_id: str
    outcome: ReviewOutcome
    action: Action
    reviewer: str
    reason: str
    reviewed_at: _timestamp_pb2.Timestamp
    original_action: Action
    def __init__(self, review_id: _Optional[str] = ..., decision_id: _Optional[str] = ..., outcome: _Optional[_Union[ReviewOutcome, str]] = ..., action: _Optional[_Union[Action, str]] = ..., reviewer: _Optional[str] = ..., reason: _Optional[str] = ..., reviewed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., original_action: _Optional[_Union[Action, str]] = ...) -> None: ...

class DecisionRecord(_message.Message):
    __slots__ = ("decision", "event", "context", "environment", "review")
    DECISION_FIELD_NUMBER: _ClassVar[int]
    EVENT_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    ENVIRONMENT_FIELD_NUMBER: _ClassVar[int]
    REVIEW_FIELD_NUMBER: _ClassVar[int]
    decision: Decision
    event: LoginEvent
    context: LoginContext
    environment: str
    review: Review
    def __init__(self, decision: _Optional[_Union[Decision, _Mapping]] = ..., event: _Optional[_Union[LoginEvent, _Mapping]] = ..., context: _Optional[_Union[LoginContext, _Mapping]] = ..., environment: _Optional[str] = ..., review: _Optional[_Union[Review, _Mapping]] = ...) -> None: ...

class ItemError(_message.Message):
    __slots__ = ("code", "message", "field")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    code: int
    message: str
    field: str
    def __init__(self, code: _Optional[int] = ..., message: _Optional[str] = ..., field: _Optional[str] = ...) -> None: ...

class StreamBatchHeader(_message.Message):
    __slots__ = ("id", "timeout_ms", "metadata")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_MS_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    id: int
    timeout_ms: int
    metadata: _containers.ScalarMap[str, str]
    def __init__(self, id: _Optional[int] = ..., timeout_ms: _Optional[int] = ..., metadata: _Optional[_Mapping[str, str]] = ...) -> None: ...

class StreamBatchStatus(_message.Message):
    __slots__ = ("id", "error", "closing")
    ID_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    CLOSING_FIELD_NUMBER: _ClassVar[int]
    id: int
    error: ItemError
    closing: bool
    def __init__(self, id: _Optional[int] = ..., error: _Optional[_Union[ItemError, _Mapping]] = ..., closing: _Optional[bool] = ...) -> None: ...
