"""Rules' heavy tier on Spark: local mode, a standalone `spark://` master, or Spark Connect (`sc://`, the thin
client, which is how Databricks and EMR are reached).

The tables the heavy tier reads (`costs`, `gpu_samples`, `gpu_processes`, `usage_metrics`) are views over parquet
folders or catalog tables named in finops.toml:

    [rules.spark]
    master = "sc://dbc-1234.cloud.databricks.com:443/;token=...;x-databricks-cluster-id=..."
    tables = { costs = "main.finops.focus_costs", gpu_samples = "s3://bucket/finops/gpu_samples/" }
    conf = { "spark.sql.shuffle.partitions" = "64" }

A FOCUS file has timestamps as ISO text and Tags as JSON text: the views turn both back into timestamps and a
map, so the same heavy-tier SQL reads the store's tables, `finops export focus` output and a provider's FOCUS
table alike. In local mode with no tables named, finops writes the store's tables to a temporary folder first
(costs through `finops export focus`): the path the test suite uses to hold Spark's findings to DuckDB's.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from finops.errors import SourceError, UsageError
from finops.rules_sql import parse_heavy, placeholders, transpile
from finops.schema import TIMESTAMP
from finops.spark_settings import OPTIONAL_TABLES, TABLES, SparkSettings

if TYPE_CHECKING:
    import pyarrow as pa

    from finops.rules_engine import HeavyQuery, Rule

log = logging.getLogger(__name__)
# Spark's own default is 200 shuffle partitions: right for a cluster, pure overhead for a laptop's local mode. Its
# default driver heap (1g) cannot collect a heavy tier of 100k daily series (8.6M rows); [rules.spark] conf wins.
LOCAL_DEFAULTS = {
    "spark.driver.memory": "4g",
    "spark.sql.shuffle.partitions": "8",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
}
# A local JVM's log goes to the terminal: only its errors, unless the user has a Spark configuration of their own.
QUIET_LOG4J = """rootLogger.level = error
rootLogger.appenderRef.stderr.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = spark: %p %c{1}: %m%n%ex
"""


class SparkEngine:
    name = "spark"

    def __init__(self, session: Any) -> None:
        self.session = session

    def fetch(self, rule: Rule, query: HeavyQuery, params: dict[str, Any]) -> pa.Table:
        where = f"rule {rule.id} ({rule.origin}) heavy.{query.name}"
        tree = parse_heavy(query.sql, where)
        sql = transpile(tree, "spark")
        args = {name: params[name] for name in placeholders(tree)}
        try:
            return self.session.sql(sql, args=args).toArrow()
        except Exception as e:  # Spark's errors come from the JVM or the Connect server, in many classes
            raise SourceError(
                f"{where}: Spark refused the query: {_first_line(e)}", hint=f"the query ran was:\n{sql}"
            ) from e


@contextmanager
def spark_engine(settings: SparkSettings, db: Path) -> Iterator[SparkEngine]:
    """A Spark session with the rule tables as views; stopped on exit if finops started it (a session already
    running in this process, as in a notebook, is used and left running), staged files removed."""
    unnamed = [name for name in TABLES if name not in settings.tables and name not in OPTIONAL_TABLES]
    if unnamed and not settings.is_local:
        raise UsageError(
            f"rules.spark.tables.{unnamed[0]} is not set, and a cluster cannot read this machine's store",
            hint="name a table or a parquet folder the cluster can read (e.g. from `finops export focus`)",
        )
    with tempfile.TemporaryDirectory(prefix="finops-spark-") as scratch:
        session, owned = _session(settings, Path(scratch))
        try:
            register_tables(session, settings, db, Path(scratch))
            yield SparkEngine(session)
        finally:
            if owned:
                _stop(session)


def register_tables(session: Any, settings: SparkSettings, db: Path, scratch: Path) -> None:
    """The views `costs`, `gpu_samples`, `gpu_processes` and `usage_metrics`: over the tables named in settings,
    or (local mode only) over this store's tables, written as parquet under `scratch`. An optional table a cluster
    does not name is an empty view."""
    staging = Path(tempfile.mkdtemp(dir=scratch, prefix="tables-"))
    for name, table in TABLES.items():
        source = settings.tables.get(name)
        if source is None and not settings.is_local:  # an optional table the cluster does not have: empty
            session.createDataFrame([], _spark_schema(table)).createOrReplaceTempView(name)
            continue
        if source is None:  # local mode (checked by spark_engine): this store's own table
            source = str(_stage(db, name, staging))
        _register(session, name, source, table)


def _spark_schema(table: Any) -> str:
    """A canonical table's columns as a Spark DDL schema."""
    types = {"TIMESTAMPTZ": "TIMESTAMP", "VARCHAR": "STRING", "DOUBLE": "DOUBLE", "BIGINT": "BIGINT",
             "INTEGER": "INT", "DATE": "DATE", "JSON": "STRING"}  # fmt: skip
    return ", ".join(f"`{name}` {types.get(kind, 'STRING')}" for name, kind in table.columns)


def _session(settings: SparkSettings, scratch: Path) -> tuple[Any, bool]:
    try:
        from pyspark.sql import SparkSession
    except ImportError as e:
        raise UsageError("the spark engine needs pyspark", hint="pip install 'gpu-finops[spark]'") from e
    remote = settings.master.startswith("sc://")
    if not remote:
        active = SparkSession.getActiveSession()
        if active is not None:
            active.conf.set("spark.sql.session.timeZone", "UTC")
            return active, False
        if shutil.which("java") is None:
            raise UsageError(
                f"Spark master {settings.master} needs Java 17 or newer", hint="install a JDK, or use sc://"
            )
    saved = {k: os.environ.get(k) for k in ("SPARK_CONF_DIR", "SPARK_LOCAL_IP")}
    if settings.is_local and saved["SPARK_CONF_DIR"] is None:
        (scratch / "conf").mkdir()
        (scratch / "conf" / "log4j2.properties").write_text(QUIET_LOG4J, encoding="utf-8")
        os.environ["SPARK_CONF_DIR"] = str(scratch / "conf")  # read when the JVM starts, in getOrCreate below
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # local mode: no "hostname resolves to loopback"
    builder = SparkSession.builder.appName("finops-rules")
    # ${VAR} in the master is read from the environment now (a token stays out of finops.toml and out of output)
    master = os.path.expandvars(settings.master)
    builder = builder.remote(master) if remote else builder.master(master)
    conf = {**(LOCAL_DEFAULTS if settings.is_local else {}), **settings.conf}
    for key, setting in conf.items():
        builder = builder.config(key, setting)
    try:
        session = builder.getOrCreate()
    except Exception as e:
        reason = _first_line(e).replace(master, settings.shown_master)
        raise SourceError(f"could not start a Spark session on {settings.shown_master}: {_redact(reason)}") from e
    finally:
        for key, previous in saved.items():
            if previous is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = previous
    # Day boundaries are UTC's, as in the store; set per session so a cluster's own default cannot move them.
    session.conf.set("spark.sql.session.timeZone", "UTC")
    if settings.is_local:
        session.sparkContext.setLogLevel("ERROR")
    return session, True


def _stage(db: Path, name: str, folder: Path) -> Path:
    """This store's table as parquet for local Spark: costs as FOCUS (the export), the others as they are."""
    from finops.focus_export import export_focus
    from finops.store import open_store

    target = folder / name
    with open_store(db, read_only=True) as store:
        empty = not store.fetch(f"SELECT count(*) FROM {name}")[0][0]  # noqa: S608  (a name from finops.schema)
        if name != "costs" or empty:
            target.mkdir()
            # An empty table still gets a file, so Spark knows its columns.
            store.copy_to(f"SELECT * FROM {name}", target / "part-0.parquet", "parquet", partition_by=None)  # noqa: S608
            return target
    export_focus(db, target)
    return target


def _register(session: Any, name: str, source: str, table: Any) -> None:
    from pyspark.sql import functions as F
    from pyspark.sql.types import MapType, StringType

    looks_like_path = "/" in source or "\\" in source or source.endswith(".parquet")
    try:
        frame = session.read.parquet(source) if looks_like_path else session.table(source)
        timestamps = {column for column, kind in table.columns if kind == TIMESTAMP}
        columns = []
        for spec in frame.schema.fields:
            column = F.col(f"`{spec.name}`")
            if isinstance(spec.dataType, StringType) and spec.name in timestamps:
                column = column.cast("timestamp")  # FOCUS files carry times as ISO 8601 text
            elif isinstance(spec.dataType, StringType) and spec.name == "Tags":
                column = F.from_json(column, MapType(StringType(), StringType()))  # FOCUS Tags: a JSON object
            columns.append(column.alias(spec.name))
        frame.select(*columns).createOrReplaceTempView(name)
    except Exception as e:
        raise SourceError(f"Spark could not read {name} from {source}: {_first_line(e)}",
                          hint=f"check rules.spark.tables.{name} in finops.toml") from e  # fmt: skip


def _stop(session: Any) -> None:
    """Stop a session finops started. A JVM that already died (out of memory, say) cannot be stopped: the error
    that killed it is the one to report, not a refused connection from the stop."""
    try:
        session.stop()
    except Exception as e:  # py4j and Connect raise their own classes for a gone peer
        log.debug("stopping the Spark session failed: %s", e)


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return _redact(text.splitlines()[0]) if text else type(error).__name__


def _redact(text: str) -> str:
    """Spark Connect URLs carry tokens as `;token=...`: an error that quotes the URL must not print it."""
    return re.sub(r"(?i)(token|password|secret)=[^;'\"\s]*", r"\1=***", text)
