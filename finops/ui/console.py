"""The two consoles: stdout for data, stderr for people."""

from __future__ import annotations

from functools import lru_cache

from rich.console import Console


@lru_cache(maxsize=1)
def err_console() -> Console:
    return Console(stderr=True)


def out_console(file: object | None = None, *, width: int | None = None) -> Console:
    return Console(file=file, width=width, soft_wrap=False)  # type: ignore[arg-type]
