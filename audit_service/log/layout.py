"""Segment keys and audit references, identical for the S3 bucket and the embedded folder."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

ROOT = "audit"
SEGMENT_SUFFIX = ".jsonl"
_SEQ_DIGITS = 12
_KEY = re.compile(
    rf"^{ROOT}/(?P<year>\d{{4}})/(?P<month>\d{{2}})/(?P<day>\d{{2}})/(?P<environment>[^/]+)/"
    rf"(?P<writer_id>[^/]+)-(?P<first_seq>\d{{{_SEQ_DIGITS}}}){re.escape(SEGMENT_SUFFIX)}$"
)


@dataclass(frozen=True, slots=True)
class SegmentName:
    """What a segment key says: whose chain it continues and from which seq."""

    key: str
    day: str
    environment: str
    writer_id: str
    first_seq: int


def utc_day(recorded_at: float) -> str:
    """`YYYY/MM/DD` of a UTC instant: the day part of a key, and the rotation boundary."""
    return datetime.fromtimestamp(recorded_at, UTC).strftime("%Y/%m/%d")


def segment_key(day: str, environment: str, writer_id: str, first_seq: int) -> str:
    """`audit/{year}/{month}/{day}/{environment}/{writer_id}-{first_seq:012d}.jsonl`."""
    return f"{ROOT}/{day}/{environment}/{writer_id}-{first_seq:0{_SEQ_DIGITS}d}{SEGMENT_SUFFIX}"


def parse_segment_key(key: str) -> SegmentName | None:
    """The parts of a segment key; None for a key that is not one."""
    match = _KEY.match(key)
    if match is None:
        return None
    return SegmentName(
        key=key,
        day=f"{match['year']}/{match['month']}/{match['day']}",
        environment=match["environment"],
        writer_id=match["writer_id"],
        first_seq=int(match["first_seq"]),
    )


def audit_ref(key: str, seq: int) -> str:
    """The reference a caller keeps for one record: `{segment_key}#{seq}`."""
    return f"{key}#{seq}"


CHECKPOINT_ROOT = "checkpoints"


def checkpoint_file_key(environment: str, writer_id: str) -> str:
    """The embedded store's checkpoints of one writer, one JSON line each, apart from the log:
    `checkpoints/{environment}/{writer_id}.jsonl`."""
    return f"{CHECKPOINT_ROOT}/{environment}/{writer_id}{SEGMENT_SUFFIX}"


def checkpoint_object_prefix(environment: str, writer_id: str) -> str:
    """The S3 prefix of one writer's checkpoints, one object each."""
    return f"{CHECKPOINT_ROOT}/{environment}/{writer_id}/"


def checkpoint_object_key(environment: str, writer_id: str, seq: int) -> str:
    """`checkpoints/{environment}/{writer_id}/{seq:012d}.json`: sorted by the head they sign."""
    return f"{checkpoint_object_prefix(environment, writer_id)}{seq:0{_SEQ_DIGITS}d}.json"


_CHECKPOINT_OBJECT = re.compile(
    rf"^{CHECKPOINT_ROOT}/(?P<environment>[^/]+)/(?P<writer_id>[^/]+)/(?P<seq>\d{{{_SEQ_DIGITS}}})"
    r"\.json$"
)


def parse_checkpoint_object_key(key: str) -> tuple[str, str, int] | None:
    """(environment, writer id, seq) of a checkpoint object's key; None for other keys."""
    match = _CHECKPOINT_OBJECT.match(key)
    if match is None:
        return None
    return match["environment"], match["writer_id"], int(match["seq"])
