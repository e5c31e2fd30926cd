"""`finops config show`: every setting finops.toml can hold, and the environment variables finops reads, each with
its value and where it came from (flag, environment, the file, or the default). No secret is ever in either:
webhook URLs and passwords are named by environment variable (`url_env`), and a Spark token is not shown."""

from __future__ import annotations

import os
from dataclasses import fields
from typing import TYPE_CHECKING, Any

from finops.alerts import AlertsConfig
from finops.allocation_policy import AllocationPolicy
from finops.budget_config import BudgetSettings
from finops.shutdown_policy import ShutdownPolicy
from finops.spark_settings import SparkSettings

if TYPE_CHECKING:
    from finops.config import Config
    from finops.paths import DbLocation

# Settings only the environment (or a global flag) sets: variable -> (setting, its default as shown).
ENVIRONMENT = {
    "FINOPS_MEMORY_LIMIT": ("memory_limit", "none: DuckDB's own (80% of RAM)"),
    "FINOPS_BUSY_TIMEOUT": ("busy_timeout_s", "10 to write, 300 to read"),
    "FINOPS_LOG_LEVEL": ("log_level", "WARNING (-v INFO, -vv DEBUG, -q ERROR)"),
    "FINOPS_DEBUG": ("debug", "0"),
    "FINOPS_AS_OF": ("budget.as_of", "today (UTC)"),
}


def _defaults() -> dict[str, Any]:
    """Every setting each section of finops.toml can hold, with its default (a table of names, such as sources
    or budgets, is empty by default)."""
    found: dict[str, Any] = {"store.db": None, "sources": {}, "gpu.hosts": {}, "rules.engine": "duckdb",
                             "rules.folder": None, "inference.targets": [], "budgets": {}}  # fmt: skip
    sections: list[tuple[str, type, set[str]]] = [
        ("rules.spark", SparkSettings, set()),
        ("alerts", AlertsConfig, set()),
        ("budgets", BudgetSettings, {"budgets"}),
        ("allocation", AllocationPolicy, {"origin"}),
        ("shutdown", ShutdownPolicy, {"origin"}),
    ]
    for prefix, cls, skip in sections:
        defaults = cls()  # each section's dataclass, built with no settings, is its defaults
        for f in fields(defaults):
            if f.name in skip:
                continue
            default = getattr(defaults, f.name)
            found[f"{prefix}.{f.name}"] = list(default) if isinstance(default, tuple) else default
    found["alerts.sinks"] = {}  # [alerts.sinks.NAME] tables
    return found


def _flatten(value: Any, prefix: str) -> list[tuple[str, Any]]:
    if isinstance(value, dict):
        return [item for key, sub in value.items() for item in _flatten(sub, f"{prefix}.{key}" if prefix else key)]
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        return [item for i, sub in enumerate(value) for item in _flatten(sub, f"{prefix}[{i}]")]
    return [(prefix, value)]


def config_lines(config: Config, db: DbLocation) -> list[str]:
    """TOML-like lines, `key = value  # origin`, file keys in the file's order and defaults after them."""
    file = str(config.path) if config.path else None
    lines = [f"# config file: {file or '(no finops.toml found)'}", f"store.db = {str(db.path)!r}  # {db.origin}"]
    from_file = [(k, v) for k, v in _flatten(config.data, "") if k != "store.db"]
    for key, value in from_file:
        if key == "rules.spark.master":
            value = config.spark.shown_master  # a Spark Connect token is never printed
        lines.append(f"{key} = {_show(value)}  # {file}")
    given = {key for key, _ in from_file} | {"store.db"}
    for key, default in _defaults().items():
        if key not in given and not any(k.startswith(key + ".") for k in given):
            lines.append(f"{key} = {_show(default)}  # default")
    for variable, (name, default) in ENVIRONMENT.items():
        value = os.environ.get(variable)
        shown = f"{value!r}  # {variable}" if value else f"{default!r}  # default ({variable} not set)"
        lines.append(f"{name} = {shown}")
    return lines


def _show(value: Any) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)
