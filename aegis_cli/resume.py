"""`aegis replay --resume FILE`: which rows an interrupted replay's --out file has decided."""

from __future__ import annotations

import json
import os
from pathlib import Path

from aegis_cli.errors import USAGE, CliError


def decided_lines(path: Path) -> set[int]:
    """The input lines `path` (an `aegis replay --out` file) holds a decision for. The file
    is rewritten with those lines only: a row that failed is tried again and then written
    once, and a line torn by the interruption goes."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CliError(f"{path}: cannot read: {exc.strerror}", USAGE) from None
    kept: list[str] = []
    lines: set[int] = set()
    for raw in text.splitlines():
        try:
            outcome = json.loads(raw)
        except json.JSONDecodeError:
            continue
        if isinstance(outcome, dict) and outcome.get("decision_id") and "line" in outcome:
            lines.add(int(outcome["line"]))
            kept.append(raw)
    partial = path.with_name(path.name + ".resume")
    partial.write_text("".join(f"{raw}\n" for raw in kept), encoding="utf-8")
    # Replaced at once: an interruption now leaves the old file or the new, never half.
    os.replace(partial, path)
    return lines
