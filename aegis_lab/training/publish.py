"""Writes a model artifact folder whole: readers see the old one or the new one, never half."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any


def json_bytes(document: Any) -> bytes:
    return (json.dumps(document, indent=2, sort_keys=True) + "\n").encode()


def publish(directory: Path, files: dict[str, bytes]) -> None:
    """Replace `directory` with one holding exactly `files`.

    The new folder is written beside it, then swapped in by renames: an interrupted training
    run leaves the previous artifact as it was (a half-written one would make the agent
    refuse to start).
    """
    directory.parent.mkdir(parents=True, exist_ok=True)
    fresh = Path(tempfile.mkdtemp(prefix=f".{directory.name}.new-", dir=directory.parent))
    try:
        for name, data in files.items():
            (fresh / name).write_bytes(data)
        retired = directory.with_name(f".{directory.name}.old")
        shutil.rmtree(retired, ignore_errors=True)
        if directory.exists():
            directory.rename(retired)
        fresh.rename(directory)
        shutil.rmtree(retired, ignore_errors=True)
    except BaseException:
        shutil.rmtree(fresh, ignore_errors=True)
        raise
