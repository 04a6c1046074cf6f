import datetime

from aegis.v1 import common_pb2 as _common_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ReviewState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REVIEW_STATE_UNSPECIFIED: _ClassVar[ReviewState]
    REVIEW_STATE_PENDING: _ClassVar[ReviewState]
    REVIEW_STATE_DECIDED: _ClassVar[ReviewState]
REVIEW_STATE_UNSPECIFIED: ReviewState
REVIEW_STATE_PENDING: ReviewState
REVIEW_STATE_DECIDED: ReviewState

class RecordRequest(_message.Message):
    __slots__ = ("record", "context_ref")
    RECORD_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_REF_FIELD_NUMBER: _ClassVar[int]
    record: _common_pb2.DecisionRecord
    context_ref: bytes
    def __init__(self, record: _Optional[_Union[_common_pb2.DecisionRecord, _Mapping]] = ..., context_ref: _Optional[bytes] = ...) -> None: ...

class RecordResponse(_message.Message):
    __slots__ = ("audit_ref", "duplicate", "decided")
    AUDIT_REF_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_FIELD_NUMBER: _ClassVar[int]
    DECIDED_FIELD_NUMBER: _ClassVar[int]
    audit_ref: str
    duplicate: bool
    decided: _common_pb2.Decision
    def __init__(self, audit_ref: _Optional[str] = ..., duplicate: _Optional[bool] = ..., decided: _Optional[_Union[_common_pb2.Decision, _Mapping]] = ...) -> None: ...

class RecordBatchRequest(_message.Message):
    __slots__ = ("items",)
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[RecordRequest]
    def __init__(self, items: _Optional[_Iterable[_Union[RecordRequest, _Mapping]]] = ...) -> None: ...

class RecordResult(_message.Message):
    __slots__ = ("recorded", "error")
    RECORDED_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    recorded: RecordResponse
    error: _common_pb2.ItemError
    def __init__(self, recorded: _Optional[_Union[RecordResponse, _Mapping]] = ..., error: _Optional[_Union[_common_pb2.ItemError, _Mapping]] = ...) -> None: ...

class RecordBatchResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[RecordResult]
    def __init__(self, results: _Optional[_Iterable[_Union[RecordResult, _Mapping]]] = ...) -> None: ...

class GetContextRequest(_message.Message):
    __slots__ = ("user_id", "device_id", "ip", "asn", "as_of", "event_id", "event_digest")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    IP_FIELD_NUMBER: _ClassVar[int]
    ASN_FIELD_NUMBER: _ClassVar[int]
    AS_OF_FIELD_NUMBER: _ClassVar[int]
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_DIGEST_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    device_id: str
    ip: str
    asn: int
    as_of: _timestamp_pb2.Timestamp
    event_id: str
    event_digest: str
    def __init__(self, user_id: _Optional[str] = ..., device_id: _Optional[str] = ..., ip: _Optional[str] = ..., asn: _Optional[int] = ..., as_of: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., event_id: _Optional[str] = ..., event_digest: _Optional[str] = ...) -> None: ...

class GetContextResponse(_message.Message):
    __slots__ = ("context", "decided", "error", "context_ref")
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    DECIDED_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_REF_FIELD_NUMBER: _ClassVar[int]
    context: _common_pb2.LoginContext
    decided: _common_pb2.Decision
    error: _common_pb2.ItemError
    context_ref: bytes
    def __init__(self, context: _Optional[_Union[_common_pb2.LoginContext, _Mapping]] = ..., decided: _Optional[_Union[_common_pb2.Decision, _Mapping]] = ..., error: _Optional[_Union[_common_pb2.ItemError, _Mapping]] = ..., context_ref: _Optional[bytes] = ...) -> None: ...

class GetContextBatchRequest(_message.Message):
    __slots__ = ("items",)
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[GetContextRequest]
    def __init__(self, items: _Optional[_Iterable[_Union[GetContextRequest, _Mapping]]] = ...) -> None: ...

class GetContextBatchResponse(_message.Message):
    __slots__ = ("items",)
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[GetContextResponse]
    def __init__(self, items: _Optional[_Iterable[_Union[GetContextResponse, _Mapping]]] = ...) -> None: ...

class GetContextStreamRequest(_message.Message):
    __slots__ = ("header", "batch")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    BATCH_FIELD_NUMBER: _ClassVar[int]
    header: _common_pb2.StreamBatchHeader
    batch: GetContextBatchRequest
    def __init__(self, header: _Optional[_Union[_common_pb2.StreamBatchHeader, _Mapping]] = ..., batch: _Optional[_Union[GetContextBatchRequest, _Mapping]] = ...) -> None: ...

class GetContextStreamResponse(_message.Message):
    __slots__ = ("status", "batch")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    BATCH_FIELD_NUMBER: _ClassVar[int]
    status: _common_pb2.StreamBatchStatus
    batch: GetContextBatchResponse
    def __init__(self, status: _Optional[_Union[_common_pb2.StreamBatchStatus, _Mapping]] = ..., batch: _Optional[_Union[GetContextBatchResponse, _Mapping]] = ...) -> None: ...

class RecordStreamRequest(_message.Message):
    __slots__ = ("header", "batch")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    BATCH_FIELD_NUMBER: _ClassVar[int]
    header: _common_pb2.StreamBatchHeader
    batch: RecordBatchRequest
    def __init__(self, header: _Optional[_Union[_common_pb2.StreamBatchHeader, _Mapping]] = ..., batch: _Optional[_Union[RecordBatchRequest, _Mapping]] = ...) -> None: ...

class RecordStreamResponse(_message.Message):
    __slots__ = ("status", "batch")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    BATCH_FIELD_NUMBER: _ClassVar[int]
    status: _common_pb2.StreamBatchStatus
    batch: RecordBatchResponse
    def __init__(self, status: _Optional[_Union[_common_pb2.StreamBatchStatus, _Mapping]] = ..., batch: _Optional[_Union[RecordBatchResponse, _Mapping]] = ...) -> None: ...

class GetDecisionRequest(_message.Message):
    __slots__ = ("decision_id",)
    DECISION_ID_FIELD_NUMBER: _ClassVar[int]
    decision_id: str
    def __init__(self, decision_id: _Optional[str] = ...) -> None: ...

class GetDecisionResponse(_message.Message):
    __slots__ = ("record", "audit_ref")
    RECORD_FIELD_NUMBER: _ClassVar[int]
    AUDIT_REF_FIELD_NUMBER: _ClassVar[int]
    record: _common_pb2.DecisionRecord
    audit_ref: str
    def __init__(self, record: _Optional[_Union[_common_pb2.DecisionRecord, _Mapping]] = ..., audit_ref: _Optional[str] = ...) -> None: ...

class ListDecisionsRequest(_message.Message):
    __slots__ = ("user_id", "action", "country", "since", "until", "page_size", "page_token")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    COUNTRY_FIELD_NUMBER: _ClassVar[int]
    SINCE_FIELD_NUMBER: _ClassVar[int]
    UNTIL_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    action: _common_pb2.Action
    country: str
    since: _timestamp_pb2.Timestamp
    until: _timestamp_pb2.Timestamp
    page_size: int
    page_token: str
    def __init__(self, user_id: _Optional[str] = ..., action: _Optional[_Union[_common_pb2.Action, str]] = ..., country: _Optional[str] = ..., since: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class DecisionSummary(_message.Message):
    __slots__ = ("decision_id", "event_id", "user_id", "action", "risk", "event_time", "country", "audit_ref")
    DECISION_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    RISK_FIELD_NUMBER: _ClassVar[int]
    EVENT_TIME_FIELD_NUMBER: _ClassVar[int]
    COUNTRY_FIELD_NUMBER: _ClassVar[int]
    AUDIT_REF_FIELD_NUMBER: _ClassVar[int]
    decision_id: str
    event_id: str
    user_id: str
    action: _common_pb2.Action
    risk: float
    event_time: _timestamp_pb2.Timestamp
    country: str
    audit_ref: str
    def __init__(self, decision_id: _Optional[str] = ..., event_id: _Optional[str] = ..., user_id: _Optional[str] = ..., action: _Optional[_Union[_common_pb2.Action, str]] = ..., risk: _Optional[float] = ..., event_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., country: _Optional[str] = ..., audit_ref: _Optional[str] = ...) -> None: ...

class ListDecisionsResponse(_message.Message):
    __slots__ = ("decisions", "next_page_token")
    DECISIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    decisions: _containers.RepeatedCompositeFieldContainer[DecisionSummary]
    next_page_token: str
    def __init__(self, decisions: _Optional[_Iterable[_Union[DecisionSummary, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class VerifyRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class VerifyProblem(_message.Message):
    __slots__ = ("kind", "location", "detail")
    KIND_FIELD_NUMBER: _ClassVar[int]
    LOCATION_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    kind: str
    location: str
    detail: str
    def __init__(self, kind: _Optional[str] = ..., location: _Optional[str] = ..., detail: _Optional[str] = ...) -> None: ...

class VerifyResponse(_message.Message):
    __slots__ = ("ok", "records_checked", "segments_checked", "problems")
    OK_FIELD_NUMBER: _ClassVar[int]
    RECORDS_CHECKED_FIELD_NUMBER: _ClassVar[int]
    SEGMENTS_CHECKED_FIELD_NUMBER: _ClassVar[int]
    PROBLEMS_FIELD_NUMBER: _ClassVar[int]
    ok: bool
    records_checked: int
    segments_checked: int
    problems: _containers.RepeatedCompositeFieldContainer[VerifyProblem]
    def __init__(self, ok: _Optional[bool] = ..., records_checked: _Optional[int] = ..., segments_checked: _Optional[int] = ..., problems: _Optional[_Iterable[_Union[VerifyProblem, _Mapping]]] = ...) -> None: ...

class ProveInclusionRequest(_message.Message):
    __slots__ = ("decision_id",)
    DECISION_ID_FIELD_NUMBER: _ClassVar[int]
    decision_id: str
    def __init__(self, decision_id: _Optional[str] = ...) -> None: ...

class SignedCheckpoint(_message.Message):
    __slots__ = ("statement", "signature")
    STATEMENT_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    statement: str
    signature: str
    def __init__(self, statement: _Optional[str] = ..., signature: _Optional[str] = ...) -> None: ...

class InclusionProof(_message.Message):
    __slots__ = ("decision_id", "segment", "leaf_index", "tree_size", "audit_path", "record_line", "checkpoint")
    DECISION_ID_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_FIELD_NUMBER: _ClassVar[int]
    LEAF_INDEX_FIELD_NUMBER: _ClassVar[int]
    TREE_SIZE_FIELD_NUMBER: _ClassVar[int]
    AUDIT_PATH_FIELD_NUMBER: _ClassVar[int]
    RECORD_LINE_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    decision_id: str
    segment: str
    leaf_index: int
    tree_size: int
    audit_path: _containers.RepeatedScalarFieldContainer[str]
    record_line: str
    checkpoint: SignedCheckpoint
    def __init__(self, decision_id: _Optional[str] = ..., segment: _Optional[str] = ..., leaf_index: _Optional[int] = ..., tree_size: _Optional[int] = ..., audit_path: _Optional[_Iterable[str]] = ..., record_line: _Optional[str] = ..., checkpoint: _Optional[_Union[SignedCheckpoint, _Mapping]] = ...) -> None: ...

class ProveInclusionResponse(_message.Message):
    __slots__ = ("proof",)
    PROOF_FIELD_NUMBER: _ClassVar[int]
    proof: InclusionProof
    def __init__(self, proof: _Optional[_Union[InclusionProof, _Mapping]] = ...) -> None: ...

class GetSigningKeyRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetSigningKeyResponse(_message.Message):
    __slots__ = ("public_key_pem", "key_id")
    PUBLIC_KEY_PEM_FIELD_NUMBER: _ClassVar[int]
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    public_key_pem: str
    key_id: str
    def __init__(self, public_key_pem: _Optional[str] = ..., key_id: _Optional[str] = ...) -> None: ...

class ReviewItem(_message.Message):
    __slots__ = ("decision", "state", "review", "review_audit_ref")
    DECISION_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    REVIEW_FIELD_NUMBER: _ClassVar[int]
    REVIEW_AUDIT_REF_FIELD_NUMBER: _ClassVar[int]
    decision: DecisionSummary
    state: ReviewState
    review: _common_pb2.Review
    review_audit_ref: str
    def __init__(self, decision: _Optional[_Union[DecisionSummary, _Mapping]] = ..., state: _Optional[_Union[ReviewState, str]] = ..., review: _Optional[_Union[_common_pb2.Review, _Mapping]] = ..., review_audit_ref: _Optional[str] = ...) -> None: ...

class ListReviewsRequest(_message.Message):
    __slots__ = ("state", "page_size", "page_token")
    STATE_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    state: ReviewState
    page_size: int
    page_token: str
    def __init__(self, state: _Optional[_Union[ReviewState, str]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListReviewsResponse(_message.Message):
    __slots__ = ("reviews", "next_page_token")
    REVIEWS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    reviews: _containers.RepeatedCompositeFieldContainer[ReviewItem]
    next_page_token: str
    def __init__(self, reviews: _Optional[_Iterable[_Union[ReviewItem, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetReviewRequest(_message.Message):
    __slots__ = ("decision_id",)
    DECISION_ID_FIELD_NUMBER: _ClassVar[int]
    decision_id: str
    def __init__(self, decision_id: _Optional[str] = ...) -> None: ...

class GetReviewResponse(_message.Message):
    __slots__ = ("item", "record")
    ITEM_FIELD_NUMBER: _ClassVar[int]
    RECORD_FIELD_NUMBER: _ClassVar[int]
    item: ReviewItem
    record: _common_pb2.DecisionRecord
    def __init__(self, item: _Optional[_Union[ReviewItem, _Mapping]] = ..., record: _Optional[_Union[_common_pb2.DecisionRecord, _Mapping]] = ...) -> None: ...

class DecideReviewRequest(_message.Message):
    __slots__ = ("decision_id", "outcome", "action", "reviewer", "reason", "review_id")
    DECISION_ID_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    REVIEWER_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    REVIEW_ID_FIELD_NUMBER: _ClassVar[int]
    decision_id: str
    outcome: _common_pb2.ReviewOutcome
    action: _common_pb2.Action
    reviewer: str
    reason: str
    review_id: str
    def __init__(self, decision_id: _Optional[str] = ..., outcome: _Optional[_Union[_common_pb2.ReviewOutcome, str]] = ..., action: _Optional[_Union[_common_pb2.Action, str]] = ..., reviewer: _Optional[str] = ..., reason: _Optional[str] = ..., review_id: _Optional[str] = ...) -> None: ...

class DecideReviewResponse(_message.Message):
    __slots__ = ("review", "audit_ref", "duplicate")
    REVIEW_FIELD_NUMBER: _ClassVar[int]
    AUDIT_REF_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_FIELD_NUMBER: _ClassVar[int]
    review: _common_pb2.Review
    audit_ref: str
    duplicate: bool
    def __init__(self, review: _Optional[_Union[_common_pb2.Review, _Mapping]] = ..., audit_ref: _Optional[str] = ..., duplicate: _Optional[bool] = ...) -> None: ...
