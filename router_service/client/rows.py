"""What an input reader yields: a parsed row with its ground truth, or a bad row's problems."""

from __future__ import annotations

from dataclasses import dataclass

from aegis.v1 import common_pb2 as pb


@dataclass(frozen=True, slots=True)
class Labels:
    """Ground truth for evaluation. Never part of a LoginEvent: the agents must not see it."""

    is_attack_ip: bool
    is_account_takeover: bool

    def to_json(self) -> dict[str, bool]:
        return {"is_attack_ip": self.is_attack_ip, "is_account_takeover": self.is_account_takeover}


@dataclass(frozen=True, slots=True)
class Problem:
    """What is wrong with one column (or field) of one input row; column "" means the row."""

    column: str
    message: str

    def __str__(self) -> str:
        return f"{self.column}: {self.message}" if self.column else self.message


@dataclass(frozen=True, slots=True)
class ParsedRow:
    """One event read from the input. `line` is the physical line where its record starts;
    `row` counts records from 1 (a CSV header is not a record)."""

    line: int
    row: int
    event: pb.LoginEvent
    labels: Labels | None


@dataclass(frozen=True, slots=True)
class BadRow:
    """A record that is not a valid event; it is reported, never altered or scored."""

    line: int
    row: int
    problems: tuple[Problem, ...]

    def __str__(self) -> str:
        return f"line {self.line}: " + "; ".join(str(p) for p in self.problems)


Row = ParsedRow | BadRow
