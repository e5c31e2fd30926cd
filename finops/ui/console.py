"""The consoles: stdout for data, stderr for people. `--quiet` (for cron) silences what is for people, but never
an error: errors go through `error_console`, which is always on."""

from __future__ import annotations

import os
from functools import lru_cache

from rich.console import Console


class Settings:
    quiet = False


def err_console() -> Console:
    return _stderr(Settings.quiet, os.environ.get("COLUMNS"))


def error_console() -> Console:
    return _stderr(False, os.environ.get("COLUMNS"))


@lru_cache(maxsize=8)
def _stderr(quiet: bool, columns: str | None) -> Console:
    # rich reads COLUMNS once, when a console is made: a console made under another width would keep it, so the
    # width is part of the key (a resized terminal, or one in-process run after another, as the tests do).
    return Console(stderr=True, quiet=quiet)


def out_console(file: object | None = None, *, width: int | None = None) -> Console:
    return Console(file=file, width=width, soft_wrap=False)  # type: ignore[arg-type]
