from aegis.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AgentState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    AGENT_STATE_UNSPECIFIED: _ClassVar[AgentState]
    AGENT_STATE_READY: _ClassVar[AgentState]
    AGENT_STATE_NO_MODEL: _ClassVar[AgentState]
AGENT_STATE_UNSPECIFIED: AgentState
AGENT_STATE_READY: AgentState
AGENT_STATE_NO_MODEL: AgentState

class AssessRequest(_message.Message):
    __slots__ = ("event", "context")
    EVENT_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    event: _common_pb2.LoginEvent
    context: _common_pb2.LoginContext
    def __init__(self, event: _Optional[_Union[_common_pb2.LoginEvent, _Mapping]] = ..., context: _Optional[_Union[_common_pb2.LoginContext, _Mapping]] = ...) -> None: ...

class AssessResponse(_message.Message):
    __slots__ = ("signal",)
    SIGNAL_FIELD_NUMBER: _ClassVar[int]
    signal: _common_pb2.AgentSignal
    def __init__(self, signal: _Optional[_Union[_common_pb2.AgentSignal, _Mapping]] = ...) -> None: ...

class AssessBatchRequest(_message.Message):
    __slots__ = ("items",)
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[AssessRequest]
    def __init__(self, items: _Optional[_Iterable[_Union[AssessRequest, _Mapping]]] = ...) -> None: ...

class AssessBatchResponse(_message.Message):
    __slots__ = ("signals",)
    SIGNALS_FIELD_NUMBER: _ClassVar[int]
    signals: _containers.RepeatedCompositeFieldContainer[_common_pb2.AgentSignal]
    def __init__(self, signals: _Optional[_Iterable[_Union[_common_pb2.AgentSignal, _Mapping]]] = ...) -> None: ...

class AssessStreamRequest(_message.Message):
    __slots__ = ("header", "batch")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    BATCH_FIELD_NUMBER: _ClassVar[int]
    header: _common_pb2.StreamBatchHeader
    batch: AssessBatchRequest
    def __init__(self, header: _Optional[_Union[_common_pb2.StreamBatchHeader, _Mapping]] = ..., batch: _Optional[_Union[AssessBatchRequest, _Mapping]] = ...) -> None: ...

class AssessStreamResponse(_message.Message):
    __slots__ = ("status", "batch")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    BATCH_FIELD_NUMBER: _ClassVar[int]
    status: _common_pb2.StreamBatchStatus
    batch: AssessBatchResponse
    def __init__(self, status: _Optional[_Union[_common_pb2.StreamBatchStatus, _Mapping]] = ..., batch: _Optional[_Union[AssessBatchResponse, _Mapping]] = ...) -> None: ...

class AgentBatchCall(_message.Message):
    __slots__ = ("header", "agent", "batch")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    AGENT_FIELD_NUMBER: _ClassVar[int]
    BATCH_FIELD_NUMBER: _ClassVar[int]
    header: _common_pb2.StreamBatchHeader
    agent: str
    batch: int
    def __init__(self, header: _Optional[_Union[_common_pb2.StreamBatchHeader, _Mapping]] = ..., agent: _Optional[str] = ..., batch: _Optional[int] = ...) -> None: ...

class AssessHostRequest(_message.Message):
    __slots__ = ("calls", "batches")
    CALLS_FIELD_NUMBER: _ClassVar[int]
    BATCHES_FIELD_NUMBER: _ClassVar[int]
    calls: _containers.RepeatedCompositeFieldContainer[AgentBatchCall]
    batches: _containers.RepeatedCompositeFieldContainer[AssessBatchRequest]
    def __init__(self, calls: _Optional[_Iterable[_Union[AgentBatchCall, _Mapping]]] = ..., batches: _Optional[_Iterable[_Union[AssessBatchRequest, _Mapping]]] = ...) -> None: ...

class AssessHostResponse(_message.Message):
    __slots__ = ("status", "replies")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    REPLIES_FIELD_NUMBER: _ClassVar[int]
    status: _common_pb2.StreamBatchStatus
    replies: _containers.RepeatedCompositeFieldContainer[AssessStreamResponse]
    def __init__(self, status: _Optional[_Union[_common_pb2.StreamBatchStatus, _Mapping]] = ..., replies: _Optional[_Iterable[_Union[AssessStreamResponse, _Mapping]]] = ...) -> None: ...

class DescribeRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class DescribeResponse(_message.Message):
    __slots__ = ("name", "model_version", "features", "state", "description")
    NAME_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    FEATURES_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    name: str
    model_version: str
    features: _containers.RepeatedScalarFieldContainer[str]
    state: AgentState
    description: str
    def __init__(self, name: _Optional[str] = ..., model_version: _Optional[str] = ..., features: _Optional[_Iterable[str]] = ..., state: _Optional[_Union[AgentState, str]] = ..., description: _Optional[str] = ...) -> None: ...
