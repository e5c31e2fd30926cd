"""Where the store lives: --db flag, then FINOPS_DB, then the user's data directory."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

ENV_DB = "FINOPS_DB"


@dataclass(frozen=True)
class DbLocation:
    path: Path
    origin: str  # "--db", "FINOPS_DB", the config file, or "default": `config show` says which

    @property
    def explicit(self) -> bool:
        return self.origin != "default"


def data_dir() -> Path:
    from platformdirs import user_data_dir

    return Path(user_data_dir("finops", appauthor=False))


def resolve_db(flag: Path | None, config_db: str | None = None, config_path: Path | None = None) -> DbLocation:
    """Flag, then environment, then finops.toml's [store] db, then the user data folder."""
    if flag is not None:
        return DbLocation(flag.expanduser(), "--db")
    env = os.environ.get(ENV_DB)
    if env:
        return DbLocation(Path(env).expanduser(), ENV_DB)
    if config_db:
        path = Path(config_db).expanduser()
        if not path.is_absolute() and config_path is not None:  # relative to the file, not to where cron runs
            path = config_path.parent / path
        return DbLocation(path, str(config_path or "finops.toml"))
    return DbLocation(data_dir() / "finops.duckdb", "default")


def demo_db() -> Path:
    return data_dir() / "demo.duckdb"
