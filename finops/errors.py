"""One error family with documented exit codes; the CLI maps these to its exit status in one place."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    FINDINGS = 1  # findings or a budget breach at or above --fail-on
    USAGE = 2  # bad flags, bad config, bad input file
    SOURCE = 3  # a source, connector or the database could not be read or written
    STALE = 4  # data too old to judge
    INTERRUPTED = 130


class FinopsError(Exception):
    """An error a user can act on: a message saying what went wrong and a hint saying what to do."""

    exit_code: ExitCode = ExitCode.USAGE

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class UsageError(FinopsError):
    exit_code = ExitCode.USAGE


class InputError(FinopsError):
    """A file or value that cannot be read as what it claims to be. Names file, row and column."""

    exit_code = ExitCode.USAGE


class SourceError(FinopsError):
    exit_code = ExitCode.SOURCE


class StoreBusyError(SourceError):
    """Another finops process holds the database for writing."""


class StaleDataError(FinopsError):
    exit_code = ExitCode.STALE


def did_you_mean(name: str, valid: list[str] | tuple[str, ...]) -> str:
    """A hint naming the closest valid choice (if any) and listing them all."""
    import difflib

    close = difflib.get_close_matches(name, list(valid), n=1)
    listing = ", ".join(valid)
    if close:
        return f"did you mean {close[0]!r}? Valid: {listing}"
    return f"valid: {listing}"
