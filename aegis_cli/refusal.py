"""The report of a file refused for its malformed rows: a screenful, however damaged the file.

A spreadsheet round trip damages every row the same way: what the user needs is each
column's problem once, with its count, and the first few rows to find them by, not
thousands of near-identical lines.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from router_service.client.rows import BadRow, Problem

# Longest shown text of one row or one example, so that each fits a terminal line or two.
MAX_SHOWN_CHARS = 160
ROW_COLUMN = "(row)"


@dataclass
class Refusal:
    """Counts of the rows checked; the malformed ones by column, and the first few."""

    path: Path
    max_rows: int
    rows: int = 0
    malformed: int = 0
    by_column: Counter[str] = field(default_factory=Counter)
    # The first problem met in each column: one explanation per kind of damage.
    example: dict[str, tuple[int, Problem]] = field(default_factory=dict)
    first_rows: list[BadRow] = field(default_factory=list)

    def add(self, row: BadRow) -> None:
        self.malformed += 1
        for problem in row.problems:
            column = problem.column or ROW_COLUMN
            self.by_column[column] += 1
            self.example.setdefault(column, (row.line, problem))
        if self.max_rows == 0 or len(self.first_rows) < self.max_rows:
            self.first_rows.append(row)

    @property
    def message(self) -> str:
        """One line: how many rows, and what to do about them."""
        valid = self.rows - self.malformed
        if valid:
            hint = f"--on-error skip scores the {valid} valid rows and reports the others"
        else:
            hint = "No row is valid: skipping the malformed ones would leave nothing"
        return (f"{self.path}: {self.malformed} of {self.rows} rows are malformed; nothing "
                f"was scored. {hint}.")

    def text(self) -> str:
        """Problems by column (each explained by its first example), then the first rows
        with the columns at fault."""
        width = max(len(column) for column in self.by_column)
        lines = [f"{self.path}: problems by column:"]
        for column, count in self.by_column.most_common():
            line, problem = self.example[column]
            lines.append(f"  {column:<{width}} {count:>7} rows, e.g. line {line}: "
                         + _cut(problem.message))
        lines.append("first malformed rows:")
        lines += [
            "  line " + _cut(f"{row.line}: "
                             + ", ".join(p.column or ROW_COLUMN for p in row.problems))
            for row in self.first_rows
        ]
        unlisted = self.malformed - len(self.first_rows)
        if unlisted:
            lines.append(f"  ... {unlisted} more (--max-problems 0 lists them all)")
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        """The same, whole (not cut), for `--json`."""
        return {
            "file": str(self.path),
            "rows": self.rows,
            "malformed": self.malformed,
            "problems_by_column": dict(self.by_column.most_common()),
            "malformed_rows": [
                {"line": row.line, "row": row.row,
                 "problems": [{"column": p.column, "message": p.message} for p in row.problems]}
                for row in self.first_rows
            ],
        }


def _cut(text: str) -> str:
    return text if len(text) <= MAX_SHOWN_CHARS else text[:MAX_SHOWN_CHARS - 1] + "…"
