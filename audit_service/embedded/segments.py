"""The embedded log on disk: JSONL segment files under data_dir, named exactly as S3 keys."""

from __future__ import annotations

import os
from pathlib import Path

from audit_service import instruments
from audit_service.log.layout import ROOT, SegmentName, parse_segment_key


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class SegmentLog:
    """Files of the log below `data_dir`; keys are paths relative to it, '/'-separated."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir

    def path(self, key: str) -> Path:
        return self.data_dir / key

    def list_segments(self) -> tuple[list[SegmentName], list[str]]:
        """Every segment, and the keys of files under the log root that are not segments."""
        segments: list[SegmentName] = []
        strays: list[str] = []
        root = self.data_dir / ROOT
        if not root.is_dir():
            return segments, strays
        for path in sorted(p for p in root.rglob("*") if not p.is_dir()):
            key = path.relative_to(self.data_dir).as_posix()
            name = parse_segment_key(key)
            if name is None:
                strays.append(key)
            else:
                segments.append(name)
        return segments, strays

    def read(self, key: str, size: int | None = None) -> bytes:
        """The segment's bytes, or its first `size` bytes."""
        with self.path(key).open("rb") as file:
            return file.read() if size is None else file.read(size)

    def read_at(self, key: str, offset: int, length: int) -> bytes:
        with self.path(key).open("rb") as file:
            file.seek(offset)
            return file.read(length)

    def cut_torn_tail(self, key: str) -> int:
        """Truncate what follows the last newline (a write cut short by a crash, never
        acknowledged), durably; returns the number of bytes removed."""
        data = self.path(key).read_bytes()
        keep = data.rfind(b"\n") + 1
        if keep == len(data):
            return 0
        self.truncate(key, keep)
        return len(data) - keep

    def truncate(self, key: str, size: int) -> None:
        """Keep the first `size` bytes of the file, durably."""
        fd = os.open(self.path(key), os.O_WRONLY)
        try:
            os.ftruncate(fd, size)
            os.fsync(fd)
        finally:
            os.close(fd)

    def remove(self, key: str) -> None:
        """Delete a segment durably (recovery drops segments that hold no record)."""
        path = self.path(key)
        path.unlink()
        _fsync_dir(path.parent)

    def create(self, key: str) -> int:
        """Create a new segment for appending and make its name durable; returns its fd.

        Fails if the file exists: another live process may be writing with the same
        writer id, and two writers in one chain would break it.
        """
        path = self.path(key)
        self._make_dirs(path.parent)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o644)
        try:
            _fsync_dir(path.parent)
        except BaseException:
            os.close(fd)
            raise
        return fd

    def _make_dirs(self, folder: Path) -> None:
        """mkdir -p, fsyncing the parent of each folder created so the new path survives a
        crash."""
        if folder.is_dir():
            return
        self._make_dirs(folder.parent)
        try:
            folder.mkdir()
        except FileExistsError:
            return
        _fsync_dir(folder.parent)


def write_all(fd: int, data: bytes) -> None:
    """Write all of `data` at the end of the file (no fsync)."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def append_durably(fd: int, data: bytes) -> None:
    """Write all of `data` at the end of the file and fsync it."""
    write_all(fd, data)
    with instruments.storage_write("fsync"):
        os.fsync(fd)
