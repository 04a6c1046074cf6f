"""The one error type the commands raise: a message for the user and the exit status."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# Exit statuses: 1 = the operation failed; 2 = the input or the arguments were refused;
# 130 = interrupted (Ctrl-C) and 141 = the reader of stdout went away (`| head`), as shells
# report a process ended by SIGINT or SIGPIPE.
FAILURE = 1
USAGE = 2
INTERRUPTED = 130
BROKEN_PIPE = 141


class CliError(Exception):
    """Shown as one line `aegis: error: ...` (under --json also as a JSON document on
    stdout) and turned into the process's exit status."""

    def __init__(
        self, message: str, exit_code: int = FAILURE, details: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code
        # What a --json error document carries beside the message (a refused file's rows).
        self.details = dict(details or {})
