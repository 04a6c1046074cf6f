"""The log in S3: segment objects under audit/, signed checkpoints under checkpoints/."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from audit_service import instruments
from audit_service.aws.clients import Retrier, error_code
from audit_service.log.layout import CHECKPOINT_ROOT, ROOT, SegmentName, parse_segment_key

_MISSING = frozenset({"NoSuchKey", "404", "NotFound"})


class ObjectExists(RuntimeError):
    """A key this writer meant to create is taken: another live process uses its writer id."""


@dataclass(frozen=True, slots=True)
class StoredObject:
    key: str
    last_modified: float  # UTC epoch seconds


class S3Log:
    """Objects of one bucket. Segments and checkpoints are written once (If-None-Match) and
    never changed: Object Lock keeps every version, verify reads the current one."""

    def __init__(self, s3: Any, bucket: str, retrier: Retrier) -> None:
        self._s3 = s3
        self.bucket = bucket
        self._retrier = retrier

    def check_bucket(self, deadline: float | None = None) -> None:
        self._retrier.call(self._s3.head_bucket, Bucket=self.bucket, deadline=deadline)

    def put_new(self, key: str, body: bytes, deadline: float | None = None) -> None:
        """Create `key` holding `body`. A key that exists with these bytes is this very write
        (an attempt that landed though its answer was lost); with others, ObjectExists."""
        try:
            with instruments.storage_write("put"):
                self._retrier.call(
                    self._s3.put_object, Bucket=self.bucket, Key=key, Body=body,
                    IfNoneMatch="*", deadline=deadline,
                )
        except Exception as exc:
            if error_code(exc) not in ("PreconditionFailed", "ConditionalRequestConflict"):
                raise
            if self.get(key, deadline) != body:
                raise ObjectExists(f"s3://{self.bucket}/{key} exists already") from None

    def get(self, key: str, deadline: float | None = None) -> bytes | None:
        """The object's bytes; None when there is no such key."""
        try:
            reply = self._retrier.call(
                self._s3.get_object, Bucket=self.bucket, Key=key, deadline=deadline
            )
        except Exception as exc:
            if error_code(exc) in _MISSING:
                return None
            raise
        body: bytes = reply["Body"].read()
        return body

    def get_range(self, key: str, offset: int, length: int) -> bytes:
        reply = self._retrier.call(
            self._s3.get_object, Bucket=self.bucket, Key=key,
            Range=f"bytes={offset}-{offset + length - 1}",
        )
        body: bytes = reply["Body"].read()
        return body

    def objects(self, prefix: str, start_after: str = "") -> Iterator[StoredObject]:
        """Objects under `prefix` in key order, after `start_after`."""
        token = ""
        while True:
            args: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix}
            if token:
                args["ContinuationToken"] = token
            elif start_after:
                args["StartAfter"] = start_after
            reply = self._retrier.call(self._s3.list_objects_v2, **args)
            for item in reply.get("Contents", []):
                yield StoredObject(item["Key"], item["LastModified"].timestamp())
            token = reply.get("NextContinuationToken", "")
            if not reply.get("IsTruncated") or not token:
                return

    def segments(
        self, prefix: str = f"{ROOT}/"
    ) -> tuple[list[tuple[SegmentName, float]], list[str]]:
        """Every segment under `prefix` with its last-modified time, and the keys there that
        are not segments."""
        segments: list[tuple[SegmentName, float]] = []
        strays: list[str] = []
        for item in self.objects(prefix):
            name = parse_segment_key(item.key)
            if name is None:
                strays.append(item.key)
            else:
                segments.append((name, item.last_modified))
        return segments, strays

    def checkpoint_keys(self, prefix: str = f"{CHECKPOINT_ROOT}/") -> list[StoredObject]:
        return list(self.objects(prefix))
