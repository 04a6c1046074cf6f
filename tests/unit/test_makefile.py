"""The Makefile's own index: `make help` lists every target, and .PHONY names only real ones."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
MAKEFILE = (REPO_ROOT / "Makefile").read_text()


def targets() -> set[str]:
    return set(re.findall(r"^([a-z][a-z-]*):(?!=)", MAKEFILE, flags=re.MULTILINE))


def phony() -> set[str]:
    declared = re.search(r"^\.PHONY:((?:.*\\\n)*.*)$", MAKEFILE, flags=re.MULTILINE)
    assert declared
    return set(declared.group(1).replace("\\\n", " ").split())


def test_help_lists_every_target_and_the_variables_resolved() -> None:
    shown = subprocess.run(["make", "-s", "help", "EVENTS=123"], cwd=REPO_ROOT,
                           capture_output=True, text=True, check=True).stdout
    listed = {line.split()[0] for line in shown.splitlines() if line.startswith("  ")}
    assert targets() <= listed, f"not in make help: {sorted(targets() - listed)}"
    assert re.search(r"^  EVENTS\s+123$", shown, flags=re.MULTILINE)
    assert "$(" not in shown


def test_phony_names_only_targets_that_exist() -> None:
    assert phony() <= targets(), f"phantom targets: {sorted(phony() - targets())}"
