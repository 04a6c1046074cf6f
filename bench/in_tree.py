"""Measurements of other checkouts' code: a bench module runs itself in a child process per
tree (that tree first on its path), round after round, trees in turn, so that a busy machine
disturbs each alike."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parents[1]


def add_tree_options(parser: argparse.ArgumentParser, rounds: int) -> None:
    parser.add_argument("--tree", type=Path, action="append",
                        help="checkouts to compare, in turn (default: this one)")
    parser.add_argument("--rounds", type=int, default=rounds)
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)


def in_child(args: argparse.Namespace) -> bool:
    """Whether this process is a tree's child; its code, imported from here on, is the one
    measured."""
    if args.child is None:
        return False
    sys.path.insert(0, str(args.child))
    return True


def each_tree(module: str, args: argparse.Namespace,
              child_args: list[str]) -> Iterator[tuple[int, Path, Any]]:
    """(round, tree, what the child printed last as JSON), trees in turn each round."""
    for round_number in range(args.rounds):
        for tree in [t.resolve() for t in args.tree or [HERE]]:
            done = subprocess.run(
                [sys.executable, "-m", module, "--child", str(tree), *child_args],
                cwd=HERE, check=True, capture_output=True, text=True)
            yield round_number, tree, json.loads(done.stdout.splitlines()[-1])
