"""The consoles: stdout for data, stderr for people. `--quiet` (for cron) silences what is for people, but never
an error: errors go through `error_console`, which is always on."""

from __future__ import annotations

from functools import lru_cache

from rich.console import Console


class Settings:
    quiet = False


def err_console() -> Console:
    return _stderr(Settings.quiet)


def error_console() -> Console:
    return _stderr(False)


@lru_cache(maxsize=2)
def _stderr(quiet: bool) -> Console:
    return Console(stderr=True, quiet=quiet)


def out_console(file: object | None = None, *, width: int | None = None) -> Console:
    return Console(file=file, width=width, soft_wrap=False)  # type: ignore[arg-type]
