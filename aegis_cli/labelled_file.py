"""A file of logins (RBA CSV or JSONL) and its truth file, read together for `aegis evaluate`."""

from __future__ import annotations

import json
from pathlib import Path

from aegis_cli.errors import CliError
from aegis_cli.readers import InputError, detect_format, read_events
from aegis_lab.evaluation.collect import Labelled
from router_service.client.rows import BadRow, ParsedRow


def read_labelled(world: Path, truth: Path, fmt: str | None) -> list[Labelled]:
    """Every record of `world` with the truth line of the same rank. A bad record, a truth line
    that is not an object with a string `attack`, or files of unequal length are refused:
    an evaluation must not quietly measure other logins than the user's."""
    try:
        rows = list(read_events(world, detect_format(world, fmt)))
    except InputError as exc:
        raise CliError(str(exc)) from None
    parsed = [row for row in rows if isinstance(row, ParsedRow)]
    bad = next((row for row in rows if isinstance(row, BadRow)), None)
    if bad is not None:
        raise CliError(f"{world}: {bad}")
    truths = _truth_lines(truth)
    if len(truths) != len(parsed):
        raise CliError(f"{truth}: {len(truths)} truth lines for the {len(parsed)} records of "
                       f"{world}")
    return [Labelled(row, attack, case)
            for row, (attack, case) in zip(parsed, truths, strict=True)]


def _truth_lines(path: Path) -> list[tuple[str, str]]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise CliError(f"{path}: cannot read: {exc}") from None
    truths = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue  # as in JSONL worlds, a blank line is no record
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise CliError(f"{path}: line {number}: not valid JSON: {exc.msg}") from None
        attack, case = (obj.get("attack"), obj.get("hard_case", "")) if isinstance(obj, dict) \
            else (None, None)
        if not isinstance(attack, str) or not isinstance(case, str):
            raise CliError(f"{path}: line {number}: expected an object with a string `attack` "
                           "(and optionally `hard_case`)")
        truths.append((attack, case))
    return truths
