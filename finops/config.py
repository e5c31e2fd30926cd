"""finops.toml: read with tomllib into frozen dataclasses, every key checked before anything runs.

Where it is found, first match wins: --config, $FINOPS_CONFIG, ./finops.toml, the user config folder.
Values then follow: flag > FINOPS_* environment variable > file > default, and `finops config show` says
which one each value came from. Credentials never appear here: connectors use the SDKs' own chains.

    [store]
    db = "~/finops/finops.duckdb"

    [gpu.hosts]                     # GPU hosts whose telemetry does not name their instance
    "gpu1-wl8sg" = "i-0abc123def456"

    [sources.aws-prod]              # a named source; `finops sync aws-prod` syncs only it
    type = "aws-exports"
    bucket = "acme-billing"
    prefix = "exports"
    export = "focus-daily"
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from finops.allocation_policy import AllocationPolicy, parse_policy
from finops.budget_config import BudgetSettings, parse_budgets
from finops.errors import UsageError, did_you_mean
from finops.shutdown_policy import ShutdownPolicy, parse_shutdown
from finops.spark_settings import SparkSettings, parse_spark

if TYPE_CHECKING:
    from finops.usage_ingest import Target

ENV_CONFIG = "FINOPS_CONFIG"
ENGINES = ("duckdb", "spark")


@dataclass(frozen=True)
class Option:
    """One setting a connector accepts: declared as data so the file is checked before anything connects."""

    name: str
    kind: type
    help: str
    required: bool = False
    default: Any = None


@dataclass(frozen=True)
class SourceConfig:
    name: str
    type: str
    settings: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Config:
    path: Path | None
    db: str | None
    sources: tuple[SourceConfig, ...]
    gpu_hosts: dict[str, str] = field(default_factory=dict)  # host name -> cloud instance id, for GPU pricing
    rules_folder: Path | None = None  # the user's own rules, in the built-in rules' shape
    alerts: dict[str, Any] = field(default_factory=dict)  # [alerts], checked by finops.alerts
    origins: dict[str, str] = field(default_factory=dict)  # key -> where its value came from
    allocation: AllocationPolicy = field(default_factory=AllocationPolicy)  # [allocation]: teams and shared pools
    inference_targets: tuple[Target, ...] = ()  # [[inference.targets]]: /metrics pages `finops usage scrape` reads
    budgets: BudgetSettings = field(default_factory=BudgetSettings)  # [budgets.NAME]: `finops budget check`
    shutdown: ShutdownPolicy = field(default_factory=ShutdownPolicy)  # [shutdown]: the rails of `shutdown apply`
    rules_engine: str = "duckdb"  # [rules] engine: where the rules' heavy tier runs
    spark: SparkSettings = field(default_factory=SparkSettings)  # [rules.spark]: master, tables, conf
    data: dict[str, Any] = field(default_factory=dict)  # the file as read, for `finops config show`

    def source(self, name: str) -> SourceConfig:
        for source in self.sources:
            if source.name == name:
                return source
        raise UsageError(f"no source named {name!r} in {self.path or 'the configuration'}",
                         hint=did_you_mean(name, [s.name for s in self.sources]) if self.sources else
                         "add a [sources.NAME] table to finops.toml")  # fmt: skip


def find_config(flag: Path | None) -> Path | None:
    """The configuration file to use, or None when there is none (finops then runs on defaults)."""
    if flag is not None:
        if not flag.exists():
            raise UsageError(f"--config {flag}: no such file")
        return flag
    env = os.environ.get(ENV_CONFIG)
    if env:
        path = Path(env).expanduser()
        if not path.exists():
            raise UsageError(f"{ENV_CONFIG}={env}: no such file")
        return path
    local = Path("finops.toml")
    if local.exists():
        return local
    from platformdirs import user_config_dir

    user = Path(user_config_dir("finops", appauthor=False)) / "finops.toml"
    return user if user.exists() else None


def load_config(flag: Path | None = None) -> Config:
    """Read and check the configuration. Errors name the file and the key."""
    path = find_config(flag)
    if path is None:
        return Config(path=None, db=None, sources=())
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise UsageError(f"{path}: not valid TOML: {e}") from e
    _only(data, {"store", "sources", "gpu", "rules", "alerts", "allocation", "inference", "budgets",
                 "shutdown"}, path, "")  # fmt: skip
    store = data.get("store", {})
    _only(store, {"db"}, path, "store.")
    db = _typed(store, "db", str, path, "store.")
    sources = []
    for name, table in data.get("sources", {}).items():
        if not isinstance(table, dict):
            raise UsageError(f"{path}: sources.{name} must be a table ([sources.{name}])")
        sources.append(_source(name, table, path))
    gpu = data.get("gpu", {})
    _only(gpu, {"hosts"}, path, "gpu.")
    hosts = _typed(gpu, "hosts", dict, path, "gpu.") or {}
    for host, instance in hosts.items():
        if not isinstance(instance, str):
            raise UsageError(f"{path}: gpu.hosts.{host} must be an instance id (a string)")
    rules = data.get("rules", {})
    _only(rules, {"folder", "engine", "spark"}, path, "rules.")
    folder = _typed(rules, "folder", str, path, "rules.")
    engine = _typed(rules, "engine", str, path, "rules.") or "duckdb"
    if engine not in ENGINES:
        raise UsageError(f"{path}: rules.engine {engine!r}", hint=did_you_mean(engine, ENGINES))
    rules_folder = (path.parent / Path(folder).expanduser()) if folder else None
    origins = {"store.db": str(path)} if db else {}
    return Config(path=path, db=db, sources=tuple(sources), gpu_hosts=dict(hosts), rules_folder=rules_folder,
                  alerts=dict(data.get("alerts", {})), origins=origins,
                  allocation=parse_policy(data.get("allocation"), path),
                  inference_targets=_targets(data.get("inference", {}), path),
                  budgets=parse_budgets(data.get("budgets"), path),
                  shutdown=parse_shutdown(data.get("shutdown"), path), rules_engine=engine,
                  spark=parse_spark(rules.get("spark"), path), data=data)  # fmt: skip


def _targets(table: dict[str, Any], path: Path) -> tuple[Target, ...]:
    from finops.usage_ingest import Target

    _only(table, {"targets"}, path, "inference.")
    targets = []
    for i, raw in enumerate(table.get("targets", [])):
        where = f"inference.targets[{i}]."
        if not isinstance(raw, dict):
            raise UsageError(f"{path}: inference.targets must be an array of tables ([[inference.targets]])")
        _only(raw, {"endpoint", "url", "resource"}, path, where)
        endpoint, url = _typed(raw, "endpoint", str, path, where), _typed(raw, "url", str, path, where)
        if not endpoint or not url:
            raise UsageError(f"{path}: {where}endpoint and {where}url are required")
        targets.append(Target(endpoint, url, _typed(raw, "resource", str, path, where)))
    return tuple(targets)


def _source(name: str, table: dict[str, Any], path: Path) -> SourceConfig:
    from finops.connectors import CONNECTORS, resolve

    kind = table.get("type")
    if not isinstance(kind, str):
        raise UsageError(f"{path}: sources.{name}.type is missing", hint=f"one of: {', '.join(sorted(CONNECTORS))}")
    connector = resolve(kind)
    options = {option.name: option for option in getattr(connector, "options", ())}
    _only(table, {"type", *options}, path, f"sources.{name}.")
    settings: dict[str, Any] = {}
    for option in options.values():
        value = _typed(table, option.name, option.kind, path, f"sources.{name}.")
        if value is None and option.required:
            raise UsageError(f"{path}: sources.{name}.{option.name} is required", hint=option.help)
        settings[option.name] = option.default if value is None else value
    problem = connector.validate(settings) if hasattr(connector, "validate") else None
    if problem:
        raise UsageError(f"{path}: sources.{name}: {problem}")
    return SourceConfig(name=name, type=kind, settings=settings)


def _only(table: dict[str, Any], allowed: set[str], path: Path, prefix: str) -> None:
    for key in table:
        if key not in allowed:
            raise UsageError(f"{path}: unknown key {prefix}{key}", hint=did_you_mean(key, sorted(allowed)))


def _typed(table: dict[str, Any], key: str, kind: type, path: Path, prefix: str) -> Any:
    value = table.get(key)
    if value is None:
        return None
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise UsageError(f"{path}: {prefix}{key} must be a {kind.__name__}, not {type(value).__name__} {value!r}")
    return value
