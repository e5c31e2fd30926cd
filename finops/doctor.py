"""`finops doctor`: one line per check, for every configured source, using read-only calls only."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from finops.config import Config, SourceConfig
from finops.connectors import resolve
from finops.errors import FinopsError, SourceError, UsageError


@dataclass(frozen=True)
class Check:
    source: str
    name: str
    ok: bool
    detail: str
    hint: str | None = None


def run_checks(config: Config, selectors: list[str] | None = None) -> list[Check]:
    """Checks for the sources named, or of the providers named (`aws` selects every `aws-*` source)."""
    sources = _select(config, selectors or [])
    checks: list[Check] = []
    for source in sources:
        connector: Any = resolve(source.type)
        if not hasattr(connector, "checks"):
            checks.append(Check(source.name, "checks", True, f"{source.type}: nothing to check remotely"))
            continue
        try:
            checks.extend(connector.checks(source.name, source.settings, datetime.now(UTC).date()))
        except FinopsError as e:  # a check that could not even run is itself a failed check
            checks.append(Check(source.name, "connect", False, e.message, e.hint))
    return checks


def freshness_checks(db: Path, config: Config) -> list[Check]:
    """When each configured source was last loaded, from the store's load log."""
    from finops.store import open_store

    if not db.exists():
        return [Check("store", "database", False, f"no database at {db}", "run finops sync")]
    with open_store(db, read_only=True) as store:
        loaded = dict(store.fetch("SELECT source, max(loaded_at) FROM loads GROUP BY source"))
    checks = []
    for source in config.sources:
        last = loaded.get(source.name)
        detail = f"last loaded {last:%Y-%m-%d %H:%M} UTC" if last else "never loaded"
        checks.append(Check(source.name, "freshness", last is not None, detail, None if last else "run finops sync"))
    return checks


def engine_checks(config: Config) -> list[Check]:
    """With `[rules] engine = "spark"`: what the nightly `finops rules run` will need, checked without starting
    Spark (a session costs seconds, and on a cluster it costs money)."""
    import importlib.util
    import shutil

    if config.rules_engine != "spark":
        return []
    spark = config.spark
    checks = []
    for module, package in (("pyspark", "pyspark"), ("sqlglot", "sqlglot")):
        found = importlib.util.find_spec(module) is not None
        checks.append(Check("rules", f"engine spark: {package}", found, "installed" if found else "not installed",
                            "pip install 'gpu-finops[spark]'"))  # fmt: skip
    if spark.master.startswith("sc://"):
        found = importlib.util.find_spec("grpc") is not None
        checks.append(Check("rules", "engine spark: Connect client", found, spark.shown_master,
                            "pip install 'gpu-finops[spark]' (pyspark[connect])"))  # fmt: skip
    else:
        java = shutil.which("java")
        detail = java or f"none, and {spark.master} needs it"
        checks.append(Check("rules", "engine spark: java", java is not None, detail, "install a JDK 17 or newer"))
    from finops.spark_settings import OPTIONAL_TABLES, TABLES

    unnamed = [name for name in TABLES if name not in spark.tables and name not in OPTIONAL_TABLES]
    ok = spark.is_local or not unnamed
    detail = ", ".join(f"{k} = {v}" for k, v in spark.tables.items()) or "this store's own (local mode)"
    checks.append(Check("rules", "engine spark: tables", ok, detail if ok else f"not named: {', '.join(unnamed)}",
                        "name them in [rules.spark] tables: a cluster cannot read this machine's store"))  # fmt: skip
    return checks


def _select(config: Config, selectors: list[str]) -> list[SourceConfig]:
    if not selectors:
        if not config.sources:
            raise UsageError("no sources configured", hint="add a [sources.NAME] table to finops.toml")
        return list(config.sources)
    chosen: list[SourceConfig] = []
    for selector in selectors:
        matches = [s for s in config.sources if s.name == selector or s.type.split("-")[0] == selector]
        if not matches:
            names = [s.name for s in config.sources] + sorted({s.type.split("-")[0] for s in config.sources})
            raise UsageError(f"no source or provider named {selector!r}", hint=f"configured: {', '.join(names)}")
        chosen.extend(m for m in matches if m not in chosen)
    return chosen


def plan_checks(source: str, what: str, plan: Callable[[], list[Any]], describe: Callable[[Any], str],
                empty: tuple[str, str]) -> list[Check]:  # fmt: skip
    """A sync source's doctor lines from its own (read-only) plan: one per period it offers, or why none."""
    try:
        units = plan()
    except SourceError as e:
        return [Check(source, what, False, e.message, e.hint)]
    if not units:
        return [Check(source, what, False, *empty)]
    return [Check(source, f"{what} {unit.period}", True, describe(unit)) for unit in units]
