"""Every built-in rule on Spark in local mode against the same rule on DuckDB: on the demo data (with default and
with sensitive parameters, so that there is much to compare) and on every YAML case, the findings are identical
row by row. Spark reads the store's costs through `finops export focus` (FOCUS text timestamps and JSON tags),
as it would read a data lake's FOCUS table.

Marked `spark`: the default run leaves them out (Spark takes seconds to start and needs Java); `.ci/run` runs
them with FINOPS_REQUIRE_SPARK=1, where a skip is a failure.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from test_rules import build_store, cases

from finops.periods import resolve_period
from finops.report import data_as_of
from finops.rules_engine import Finding, evaluate_rules, load_rules, run_rule
from finops.spark_settings import SparkSettings
from finops.store import open_store

pytestmark = pytest.mark.spark

# Parameters that make every rule fire often on the demo data: many rows to compare, not a handful.
SENSITIVE = {
    "ANO001": {"min_amount": "0", "min_change": "0.05", "k": "0.5", "min_history": "2"},
    "GPU001": {"min_idle_share": "0", "min_amount": "0"},
    "TAG001": {"min_share": "0", "min_amount": "0"},
    "UNIT001": {"max_per_1k": "0.000001", "min_amount": "0"},
}


def _require_spark() -> None:
    missing = [what for what, ok in (("pyspark", importlib.util.find_spec("pyspark")), ("java", shutil.which("java")))
               if not ok]  # fmt: skip
    if missing:
        if os.environ.get("FINOPS_REQUIRE_SPARK"):
            pytest.fail(f"FINOPS_REQUIRE_SPARK is set but {', '.join(missing)} is missing")
        pytest.skip(f"no {', '.join(missing)}: install the spark group (uv sync --group spark) and a JDK 17+")


@pytest.fixture(scope="module")
def spark(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One local Spark session for the module (starting one takes seconds)."""
    _require_spark()
    from finops.spark_engine import SparkEngine, _session

    session, owned = _session(SparkSettings("local[2]"), tmp_path_factory.mktemp("spark"))
    assert owned
    yield SparkEngine(session)
    session.stop()


def _use_store(spark: Any, db: Path, scratch: Path) -> None:
    from finops.spark_engine import register_tables

    register_tables(spark.session, SparkSettings("local[2]"), db, scratch)


def _comparable(findings: list[Finding]) -> list[tuple[Any, ...]]:
    return [(f.rule_id, f.subject, f.amount, f.currency, f.message, json.dumps(f.evidence, sort_keys=True))
            for f in findings]  # fmt: skip


def test_demo_findings_are_identical_on_duckdb_and_spark(spark: Any, demo_db: Path, tmp_path: Path) -> None:
    _use_store(spark, demo_db, tmp_path)
    with open_store(demo_db, read_only=True) as store:
        newest = data_as_of(store, None)
    rules = load_rules()
    compared: dict[str, int] = dict.fromkeys(SENSITIVE, 0)
    for period in ("90d", "2026-11", "30d"):
        current, _ = resolve_period(period, newest)
        for overrides in ({}, SENSITIVE):
            with open_store(demo_db, read_only=True) as store:
                on_duckdb = evaluate_rules(store, rules, current.start, current.end, overrides)
            on_spark = evaluate_rules(spark, rules, current.start, current.end, overrides)
            assert _comparable(on_spark) == _comparable(on_duckdb), (period, overrides)
            for finding in on_duckdb:
                compared[finding.rule_id] += 1
    # every rule found something to compare, and the demo's planted findings are among them
    assert all(count >= 3 for count in compared.values()), compared


CASES = cases()


@pytest.mark.parametrize(("name", "document", "case"), CASES, ids=[c[0] for c in CASES])
def test_every_rule_case_gives_the_same_findings_on_spark(
    spark: Any, name: str, document: dict[str, Any], case: dict[str, Any], tmp_path: Path
) -> None:
    db = tmp_path / "case.duckdb"
    build_store(db, case)
    _use_store(spark, db, tmp_path)
    rule = next(r for r in load_rules() if r.id == document["rule"])
    start, end = (date.fromisoformat(d) for d in document["period"])
    params = {k: str(v) for k, v in case["params"].items()}
    with open_store(db, read_only=True) as store:
        on_duckdb = run_rule(store, rule, start, end, params)
    on_spark = run_rule(spark, rule, start, end, params)
    assert _comparable(on_spark) == _comparable(on_duckdb), name
    assert [f.subject for f in on_spark] == [e["subject"] for e in case["expect"]], name


def test_cli_engine_spark_matches_duckdb_and_stores_the_same_findings(cli, demo_db: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _require_spark()
    db = tmp_path / "copy.duckdb"
    shutil.copy(demo_db, db)
    args = ("rules", "run", "--db", db, "--period", "90d", "--format", "json")
    on_duckdb = cli(*args)
    on_spark = cli(*args, "--engine", "spark", "--spark-master", "local[2]")
    assert on_duckdb.code == on_spark.code == 0, on_spark.err
    first, second = json.loads(on_duckdb.out), json.loads(on_spark.out)
    assert [f | {"new": None} for f in second["findings"]] == [f | {"new": None} for f in first["findings"]]
    assert first["findings"] and not any(f["new"] for f in second["findings"])  # same fingerprints: seen before


@pytest.fixture(scope="module")
def connect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Spark Connect server in its own process (the server Databricks and EMR run), on a free local port."""
    _require_spark()
    import pyspark

    home = Path(pyspark.__file__).parent
    port = _free_port()
    log = (tmp_path_factory.mktemp("connect") / "server.log").open("w")
    server = subprocess.Popen(
        [str(home / "bin" / "spark-submit"), "--class", "org.apache.spark.sql.connect.service.SparkConnectServer",
         "--master", "local[2]", "--conf", f"spark.connect.grpc.binding.port={port}",
         "--conf", "spark.ui.enabled=false"],
        env={**os.environ, "SPARK_HOME": str(home), "SPARK_LOCAL_IP": "127.0.0.1"}, stdout=log, stderr=log,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and server.poll() is None:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.5)
        else:
            pytest.fail(f"the Spark Connect server did not start; see {log.name}")
        yield f"sc://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=60)
        log.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_spark_connect_over_named_parquet_tables_matches_duckdb(
    cli, connect_server: str, demo_db: Path, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """The thin client path: nothing staged by finops, the tables named in finops.toml (the FOCUS export for costs,
    parquet for telemetry), the rules' heavy tier sent to the server."""
    db = tmp_path / "copy.duckdb"
    shutil.copy(demo_db, db)
    lake = tmp_path / "lake"
    assert cli("export", "focus", "--db", db, "--output", lake / "costs").code == 0
    with open_store(db, read_only=True) as store:
        for name in ("gpu_samples", "usage_metrics"):
            (lake / name).mkdir()
            store.copy_to(f"SELECT * FROM {name}", lake / name / "part-0.parquet", "parquet", partition_by=None)
    config = tmp_path / "finops.toml"
    config.write_text(
        '[rules]\nengine = "spark"\n[rules.spark]\nmaster = "sc://127.0.0.1:${FINOPS_TEST_CONNECT_PORT}"\n'
        f'tables = {{ costs = "{lake / "costs"}", gpu_samples = "{lake / "gpu_samples"}", '
        f'usage_metrics = "{lake / "usage_metrics"}" }}\n'
    )
    args = ("rules", "run", "--db", db, "--period", "90d", "--format", "json")
    on_duckdb = cli("--config", config, *args, "--engine", "duckdb")
    # A process holds either a classic Spark session or a Connect one, never both: the installed command, alone.
    finops = Path(sys.executable).parent / "finops"
    port = connect_server.rsplit(":", 1)[1]  # from the environment, as a token would be: ${VAR} in the master
    on_spark = subprocess.run([finops, "--config", config, *args], capture_output=True, text=True, timeout=300,
                              env={**os.environ, "FINOPS_TEST_CONNECT_PORT": port})  # fmt: skip
    assert on_duckdb.code == on_spark.returncode == 0, on_spark.stderr
    first, second = json.loads(on_duckdb.out)["findings"], json.loads(on_spark.stdout)["findings"]
    assert first
    assert [f | {"new": None} for f in second] == [f | {"new": None} for f in first]


def test_a_remote_master_without_named_tables_is_refused_before_anything_runs(
    cli, demo_db: Path, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    config = tmp_path / "finops.toml"
    config.write_text('[rules.spark]\nmaster = "sc://127.0.0.1:1;token=SECRET"\n')
    result = cli("--config", config, "rules", "run", "--db", demo_db, "--engine", "spark")
    assert result.code == 2
    assert "rules.spark.tables.costs is not set" in result.err
    named = tmp_path / "named.toml"  # with the tables named, it gets as far as connecting, which fails: port 1
    named.write_text('[rules.spark]\nmaster = "sc://127.0.0.1:1;token=SECRET"\n'
                     'tables = { costs = "a.b", gpu_samples = "a.c", usage_metrics = "a.d" }\n')  # fmt: skip
    finops = Path(sys.executable).parent / "finops"  # its own process: this one may hold a classic session
    failed = subprocess.run([finops, "--config", named, "rules", "run", "--db", demo_db, "--engine", "spark"],
                            capture_output=True, text=True, timeout=300)  # fmt: skip
    assert failed.returncode == 3, failed.stderr
    assert "could not start a Spark session on sc://127.0.0.1:1;...: " in failed.stderr
    assert "SECRET" not in result.err + result.out + failed.stderr + failed.stdout
