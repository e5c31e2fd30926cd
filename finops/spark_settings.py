"""[rules.spark] in finops.toml: where the rules' heavy tier runs on Spark, and which tables it reads there.

[rules]
engine = "spark"                   # default engine for `finops rules run` (else duckdb)
[rules.spark]
master = "local[*]"                # or spark://HOST:7077, or sc://HOST:15002 (Spark Connect)
tables = { costs = "main.finops.focus" }   # a catalog table, or a parquet folder (any path with a /)
conf = { "spark.sql.shuffle.partitions" = "64" }
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from finops.errors import UsageError, did_you_mean
from finops.schema import COSTS, GPU_PROCESSES, GPU_SAMPLES, USAGE_METRICS

TABLES = {t.name: t for t in (COSTS, GPU_SAMPLES, GPU_PROCESSES, USAGE_METRICS)}
# A cluster that keeps no per-process telemetry need not name it: its view is then empty (the process SM signal
# of gpu_hours simply never applies).
OPTIONAL_TABLES = ("gpu_processes",)
# local, local[4], local[*], yarn, or a URL: spark://HOST:7077, k8s://HOST, sc://HOST:15002/;params
MASTER = re.compile(r"local(\[[^\]]+\])?|yarn|(spark|sc|k8s)://.+")


@dataclass(frozen=True)
class SparkSettings:
    master: str = "local[*]"
    tables: dict[str, str] = field(default_factory=dict)  # costs / gpu_samples / usage_metrics -> path or table
    conf: dict[str, str] = field(default_factory=dict)

    @property
    def is_local(self) -> bool:
        return self.master.startswith("local")

    @property
    def shown_master(self) -> str:
        """The master without what follows ';' in a Spark Connect URL (where a token goes): safe to print."""
        return self.master.split(";", 1)[0] + (";..." if ";" in self.master else "")

    def with_master(self, master: str) -> SparkSettings:
        """Another master (--spark-master), checked like the file's."""
        return replace(self, master=_master(master, "--spark-master"))


def _master(master: Any, where: str) -> str:
    if not isinstance(master, str) or not MASTER.fullmatch(master):
        shown = str(master).split(";", 1)[0]  # a Spark Connect URL may carry a token after ';'
        raise UsageError(f"{where} {shown!r} is not a Spark master",
                         hint="local[*], spark://HOST:7077 or sc://HOST:15002 (Spark Connect)")  # fmt: skip
    return master


def parse_spark(table: Any, path: Path) -> SparkSettings:
    """[rules.spark] from finops.toml; mistakes name the key."""
    if table is None:
        return SparkSettings()
    if not isinstance(table, dict):
        raise UsageError(f"{path}: rules.spark must be a table ([rules.spark])")
    for key in table:
        if key not in ("master", "tables", "conf"):
            raise UsageError(
                f"{path}: unknown key rules.spark.{key}", hint=did_you_mean(key, ["master", "tables", "conf"])
            )
    master = _master(table.get("master", "local[*]"), f"{path}: rules.spark.master")
    tables = table.get("tables", {})
    for name, value in tables.items():
        if name not in TABLES:
            raise UsageError(f"{path}: unknown table rules.spark.tables.{name}", hint=did_you_mean(name, list(TABLES)))
        if not isinstance(value, str) or not value:
            raise UsageError(f"{path}: rules.spark.tables.{name} must be a path or a table name")
    conf = table.get("conf", {})
    if not isinstance(conf, dict):
        raise UsageError(f"{path}: rules.spark.conf must be a table of Spark settings")
    return SparkSettings(master, dict(tables), {str(k): str(v) for k, v in conf.items()})
