"""The one error type the commands raise: a message for the user and the exit status."""

from __future__ import annotations

# Exit statuses: 1 = the operation failed; 2 = the input or the arguments were refused;
# 130 = interrupted (Ctrl-C), as shells report it.
FAILURE = 1
USAGE = 2
INTERRUPTED = 130


class CliError(Exception):
    """Shown as one line `aegis: error: ...` and turned into the process's exit status."""

    def __init__(self, message: str, exit_code: int = FAILURE) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code
