from aegis.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ScoreRequest(_message.Message):
    __slots__ = ("event",)
    EVENT_FIELD_NUMBER: _ClassVar[int]
    event: _common_pb2.LoginEvent
    def __init__(self, event: _Optional[_Union[_common_pb2.LoginEvent, _Mapping]] = ...) -> None: ...

class ScoreResponse(_message.Message):
    __slots__ = ("decision", "timing", "repeat")
    DECISION_FIELD_NUMBER: _ClassVar[int]
    TIMING_FIELD_NUMBER: _ClassVar[int]
    REPEAT_FIELD_NUMBER: _ClassVar[int]
    decision: _common_pb2.Decision
    timing: ScoreTiming
    repeat: bool
    def __init__(self, decision: _Optional[_Union[_common_pb2.Decision, _Mapping]] = ..., timing: _Optional[_Union[ScoreTiming, _Mapping]] = ..., repeat: _Optional[bool] = ...) -> None: ...

class ScoreTiming(_message.Message):
    __slots__ = ("context_ms", "context_batch_size", "audit_ms", "audit_batch_size")
    CONTEXT_MS_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    AUDIT_MS_FIELD_NUMBER: _ClassVar[int]
    AUDIT_BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    context_ms: float
    context_batch_size: int
    audit_ms: float
    audit_batch_size: int
    def __init__(self, context_ms: _Optional[float] = ..., context_batch_size: _Optional[int] = ..., audit_ms: _Optional[float] = ..., audit_batch_size: _Optional[int] = ...) -> None: ...

class ScoreStreamRequest(_message.Message):
    __slots__ = ("client_ref", "event", "items")
    CLIENT_REF_FIELD_NUMBER: _ClassVar[int]
    EVENT_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    client_ref: str
    event: _common_pb2.LoginEvent
    items: _containers.RepeatedCompositeFieldContainer[ScoreStreamRequest]
    def __init__(self, client_ref: _Optional[str] = ..., event: _Optional[_Union[_common_pb2.LoginEvent, _Mapping]] = ..., items: _Optional[_Iterable[_Union[ScoreStreamRequest, _Mapping]]] = ...) -> None: ...

class ScoreError(_message.Message):
    __slots__ = ("code", "message", "field")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    code: int
    message: str
    field: str
    def __init__(self, code: _Optional[int] = ..., message: _Optional[str] = ..., field: _Optional[str] = ...) -> None: ...

class ScoreStreamResponse(_message.Message):
    __slots__ = ("client_ref", "decision", "error", "repeat", "closing", "items")
    CLIENT_REF_FIELD_NUMBER: _ClassVar[int]
    DECISION_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    REPEAT_FIELD_NUMBER: _ClassVar[int]
    CLOSING_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    client_ref: str
    decision: _common_pb2.Decision
    error: ScoreError
    repeat: bool
    closing: bool
    items: _containers.RepeatedCompositeFieldContainer[ScoreStreamResponse]
    def __init__(self, client_ref: _Optional[str] = ..., decision: _Optional[_Union[_common_pb2.Decision, _Mapping]] = ..., error: _Optional[_Union[ScoreError, _Mapping]] = ..., repeat: _Optional[bool] = ..., closing: _Optional[bool] = ..., items: _Optional[_Iterable[_Union[ScoreStreamResponse, _Mapping]]] = ...) -> None: ...
