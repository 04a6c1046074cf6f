"""The embedded store's signed checkpoints: one JSONL file per writer, apart from the log."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from audit_service import instruments
from audit_service.embedded.segments import SegmentLog, write_all
from audit_service.log.checkpoints import BadCheckpoint, SignedCheckpoint
from audit_service.log.layout import CHECKPOINT_ROOT, checkpoint_file_key

StoredCheckpoint = tuple[str, SignedCheckpoint | BadCheckpoint]
"""Where a checkpoint was read (`key:line`), and it or why it cannot be read."""


class CheckpointFile:
    """This writer's checkpoint file, appended to after each commit.

    A line is written (visible to verify at once) but fsynced only by `sync`: the decision's
    durability is its segment's fsync, and a seal lost with the page cache is made again at
    start from the fsynced segment (the store's recovery). One fsync per commit, not two.
    """

    def __init__(self, data_dir: Path, environment: str, writer_id: str) -> None:
        self.key = checkpoint_file_key(environment, writer_id)
        self._files = SegmentLog(data_dir)
        self._fd: int | None = None
        self.size = 0
        self.synced_size = 0

    def open(self) -> None:
        """Open for appending, cutting a line torn by a crash."""
        path = self._files.path(self.key)
        if path.exists():
            self._files.cut_torn_tail(self.key)
            self.size = path.stat().st_size
            self._fd = os.open(path, os.O_WRONLY | os.O_APPEND)
        else:
            self._fd = self._files.create(self.key)
            self.size = 0
        self.synced_size = self.size

    def append(self, signed: SignedCheckpoint) -> None:
        """Append without fsync (see the class)."""
        if self._fd is None:
            raise RuntimeError("the checkpoint file is not open")
        line = signed.to_json() + b"\n"
        write_all(self._fd, line)
        self.size += len(line)

    def sync(self) -> None:
        """Make every line appended so far durable."""
        if self._fd is not None and self.synced_size < self.size:
            with instruments.storage_write("fsync"):
                os.fsync(self._fd)
            self.synced_size = self.size

    def close(self) -> None:
        if self._fd is not None:
            self.sync()
            os.close(self._fd)
            self._fd = None


def _parse(location: str, raw: bytes) -> StoredCheckpoint:
    try:
        return location, SignedCheckpoint.from_json(raw)
    except BadCheckpoint as exc:
        return location, exc


def newest_first(data_dir: Path, key: str) -> Iterator[StoredCheckpoint]:
    """The checkpoints of one file, newest first, parsed only as far as the caller reads."""
    path = data_dir / key
    if not path.exists():
        return
    lines = path.read_bytes().splitlines()
    for number in range(len(lines), 0, -1):
        yield _parse(f"{key}:{number}", lines[number - 1])


def read_checkpoint_files(data_dir: Path, limits: dict[str, int]) -> list[StoredCheckpoint]:
    """Every checkpoint under data_dir/checkpoints, file by file in line order; a file named
    in `limits` is read only up to that many bytes (what existed at a snapshot)."""
    root = data_dir / CHECKPOINT_ROOT
    found: list[StoredCheckpoint] = []
    if not root.is_dir():
        return found
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        key = path.relative_to(data_dir).as_posix()
        with path.open("rb") as file:
            data = file.read(limits[key]) if key in limits else file.read()
        found.extend(
            _parse(f"{key}:{number}", raw)
            for number, raw in enumerate(data.splitlines(), start=1)
        )
    return found
