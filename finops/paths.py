"""Where the store lives: --db flag, then FINOPS_DB, then the user's data directory."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

ENV_DB = "FINOPS_DB"


@dataclass(frozen=True)
class DbLocation:
    path: Path
    origin: str  # "flag", "env" or "default": the report's banner and `config show` say which

    @property
    def explicit(self) -> bool:
        return self.origin != "default"


def data_dir() -> Path:
    from platformdirs import user_data_dir

    return Path(user_data_dir("finops", appauthor=False))


def resolve_db(flag: Path | None) -> DbLocation:
    if flag is not None:
        return DbLocation(flag.expanduser(), "flag")
    env = os.environ.get(ENV_DB)
    if env:
        return DbLocation(Path(env).expanduser(), "env")
    return DbLocation(data_dir() / "finops.duckdb", "default")


def demo_db() -> Path:
    return data_dir() / "demo.duckdb"
