"""The Makefile lists itself: every target has a `##` line for `make help`, and .PHONY
names only targets that exist."""

from __future__ import annotations

import re

from tests.conftest import REPO_ROOT

MAKEFILE = (REPO_ROOT / "Makefile").read_text()
TARGETS = re.findall(r"^([a-z][a-z-]*):", MAKEFILE, re.MULTILINE)


def test_every_target_says_what_it_does_for_make_help() -> None:
    described = set(re.findall(r"^([a-z][a-z-]*):.*## ", MAKEFILE, re.MULTILINE))
    assert TARGETS and set(TARGETS) <= described, set(TARGETS) - described


def test_phony_names_only_real_targets_and_every_target() -> None:
    phony = re.search(r"^\.PHONY:((?:.*\\\n)*.*)$", MAKEFILE, re.MULTILINE)
    assert phony is not None
    assert set(phony.group(1).replace("\\\n", " ").split()) == set(TARGETS)
